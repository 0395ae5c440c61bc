//! leakagent's report: the serde model (the public JSON schema, `schema_version`) and the
//! renderers that read it. Nothing here touches the JVM, so the agent and the `leakagent`
//! command render the same report the same way.
#![forbid(unsafe_code)]

mod chart;
pub mod glob;
pub mod html;
pub mod json;
pub mod ledger;
pub mod model;
pub mod prom;
pub mod props;
pub mod signals;
pub mod text;
pub mod units;
pub mod words;
