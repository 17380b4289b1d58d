use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> Result<std::process::ExitCode> {
    anyhow::bail!("not yet")
}
