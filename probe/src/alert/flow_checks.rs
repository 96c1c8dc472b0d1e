use sonde_proto::v1;
use std::sync::Arc;
#[derive(Debug)]
pub struct FlowChecks;
#[derive(Debug)]
pub struct FlowCheckSettings;
impl FlowCheckSettings {
    pub fn from_config(_: &super::config::AlertConfig) -> Self {
        Self
    }
}
impl FlowChecks {
    pub fn new(_: Arc<super::Rules>, _: FlowCheckSettings, _: super::lists::Blacklists) -> Self {
        Self
    }
    pub fn flow(&mut self, _: &v1::Flow, _: &mut Vec<(v1::Alert, String)>) {}
}
