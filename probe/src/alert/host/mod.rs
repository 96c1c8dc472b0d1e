use sonde_proto::v1;
use std::sync::Arc;
#[derive(Debug)]
pub struct HostChecks;
impl HostChecks {
    pub fn new(_: Arc<super::Rules>, _: Vec<ipnet::IpNet>) -> Self {
        Self
    }
    pub fn flow(&mut self, _: &v1::Flow, _: &mut Vec<v1::Alert>) {}
    pub fn advance(&mut self, _: u64, _: &mut Vec<v1::Alert>) {}
    pub fn finish(&mut self, _: &mut Vec<v1::Alert>) {}
    pub fn incident_of_attacker(&self, _: std::net::IpAddr) -> Option<(String, &'static str)> {
        None
    }
    pub fn attach_signature(&mut self, _: &str, _: v1::SuricataSignature) {}
}
