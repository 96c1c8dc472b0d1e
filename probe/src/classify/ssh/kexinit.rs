//! The KEXINIT message (RFC 4253 §7.1) of one SSH direction: its HASSH
//! fingerprint (salesforce's HASSH, as nDPI computes it: the MD5 of
//! `kex;encryption;mac;compression` of the sender's direction) and nDPI's
//! obsolete-cipher risk.

use md5::{Digest, Md5};

use super::super::Findings;
use super::super::cursor::Cursor;
use super::obsolete_risk;

/// Ciphers nDPI calls obsolete (after linuxminion's list of deprecated SSH
/// settings), in nDPI's order.
const OBSOLETE_CIPHERS: [&str; 6] = [
    "arcfour256",
    "arcfour128",
    "3des-cbc",
    "blowfish-cbc",
    "cast128-cbc",
    "arcfour",
];

/// The KEXINIT payload after its message code (RFC 4253 §7.1): a cookie and
/// ten name-lists. A cut or broken list ends the reading quietly.
pub(super) fn kex_init(mut c: Cursor<'_>, client: bool, out: &mut Findings) {
    if c.skip(16).is_err() {
        return;
    }
    let mut lists: [&[u8]; 8] = [&[]; 8];
    for list in &mut lists {
        let Ok(n) = c.u32() else {
            return;
        };
        let Ok(l) = c.take(n as usize) else {
            return;
        };
        *list = l;
    }
    let [
        kex,
        _host_key,
        enc_cs,
        enc_sc,
        mac_cs,
        mac_sc,
        comp_cs,
        comp_sc,
    ] = lists;
    let (enc, mac, comp) = if client {
        (enc_cs, mac_cs, comp_cs)
    } else {
        (enc_sc, mac_sc, comp_sc)
    };
    // HASSH: "kex;enc;mac;comp" of the sender's direction.
    let mut hasher = Md5::new();
    for (i, part) in [kex, enc, mac, comp].iter().enumerate() {
        if i > 0 {
            hasher.update(b";");
        }
        hasher.update(part);
    }
    let hash = hex::encode(hasher.finalize());
    let key = if client {
        "ssh.hassh_client"
    } else {
        "ssh.hassh_server"
    };
    out.extra(key, hash.as_bytes());
    // nDPI reports the first offered obsolete cipher; it skips a match on
    // the first entry of its list (arcfour256), so the same is done here to
    // read as nDPI does.
    let found = enc.split(|&b| b == b',').find_map(|name| {
        OBSOLETE_CIPHERS
            .iter()
            .skip(1)
            .find(|o| o.as_bytes() == name)
    });
    if let Some(cipher) = found {
        out.risk_with(obsolete_risk(client), &format!("Found cipher {cipher}"));
    }
}
