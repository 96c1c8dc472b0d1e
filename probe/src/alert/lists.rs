#[derive(Debug)]
pub struct Blacklists;
impl Blacklists {
    pub fn load(_: &[std::path::PathBuf]) -> Result<Self, std::io::Error> {
        Ok(Self)
    }
}
