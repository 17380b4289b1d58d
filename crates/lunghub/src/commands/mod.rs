pub mod bench;
pub mod catalog;
pub mod deid;
pub mod ingest;
pub mod storage;
