pub mod bench;
pub mod deid;
