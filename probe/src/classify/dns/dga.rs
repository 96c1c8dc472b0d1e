//! A heuristic for machine-generated domain names (DGA), in the spirit of
//! nDPI's `ndpi_check_dga_name`: the verdict raises "Susp DGA Domain name"
//! for the host names of DNS, TLS, QUIC and HTTP flows.
//!
//! A DGA generates names to register, so only the registered label is
//! judged (`whatsapp` in `e7.whatsapp.net`, `example` in `a.example.co.uk`):
//! random-looking subdomains are ordinary on CDNs and clouds. The label is
//! suspicious when it is
//! - unpronounceable: at least 8 characters, 5 adjacent letter pairs, and
//!   fewer than one pair in five is a common English bigram, or fewer than
//!   one in three with a run of 5+ consonants (Conficker, Cryptolocker,
//!   Ramnit style `kqpmhqxmcuaiw`);
//! - long and random: 16 characters or more with letters and digits
//!   interleaved, a run of 5+ consonants, or few common bigrams (Zeus
//!   GameOver style `1vjs2oxryf4ze1qqgz3vk3bfq4`);
//!
//! Like nDPI's, it misses DGAs that pick dictionary words (Matsnu, Suppobox)
//! and some short random names that happen to read well (`bqmylyfc`).
//!
//! Names that are not host names are never suspicious: IP addresses, a
//! single label, reverse-lookup (`.arpa`) and `.local` names, service labels
//! (`_http._tcp`) and IDNs (`xn--`, raised as "IDN Domain Name" instead).

/// Common English letter pairs, as a bitmap per first letter (bit = second
/// letter), built from the most frequent bigrams of English text.
const COMMON: [u32; 26] = bigram_table(&[
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of", "ed",
    "is", "it", "al", "ar", "st", "to", "nt", "ng", "se", "ha", "as", "ou", "io", "le", "ve", "co",
    "me", "de", "hi", "ri", "ro", "ic", "ne", "ea", "ra", "ce", "li", "ch", "ll", "be", "ma", "si",
    "om", "ur", "ca", "el", "ta", "la", "ns", "di", "fo", "ho", "pe", "ec", "pr", "no", "ct", "us",
    "ac", "ot", "il", "tr", "ly", "nc", "et", "ut", "ss", "so", "rs", "un", "lo", "wa", "ge", "ie",
    "wh", "ee", "wi", "em", "ad", "ol", "rt", "po", "we", "na", "ul", "ni", "ts", "mo", "ow", "pa",
    "im", "mi", "ai", "sh", "ir", "su", "id", "os", "iv", "ia", "am", "fi", "ci", "vi", "pl", "ig",
    "tu", "ev", "ld", "ry", "mp", "fe", "bl", "ab", "gh", "ty", "op", "wo", "sa", "ay", "ex", "ke",
    "fr", "oo", "av", "ag", "if", "ap", "gr", "od", "bo", "sp", "rd", "do", "uc", "bu", "ei", "ov",
    "by", "rm", "ep", "tt", "oc", "fa", "ef", "cu", "rn", "sc", "gi", "da", "yo", "cr", "cl", "du",
    "ga", "qu", "ue", "ff", "ba", "ey", "ls", "va", "um", "pp", "ua", "up", "lu", "go", "ht", "ru",
    "ug", "ds", "lt", "pi", "rc", "rr", "eg", "au", "ck", "ew", "mu", "br", "bi", "pt", "ak", "pu",
    "ui", "ok", "ki", "ys", "ob", "mm", "fu", "ph", "og", "ms", "ye", "ud", "mb", "ip", "ub", "oi",
    "gu", "dr", "ft", "tw", "nu", "af", "hu", "eo", "vo", "fl", "ja", "jo", "ju", "ka", "ko", "ya",
    "za", "ze", "zo", "ox", "xt", "sk", "sm", "sn", "sl", "sw", "gl", "kn", "hy", "cy", "my", "dy",
    "ny", "py", "ry", "xi", "ix", "ax",
]);

const fn bigram_table(pairs: &[&str]) -> [u32; 26] {
    let mut table = [0u32; 26];
    let mut i = 0;
    while i < pairs.len() {
        let p = pairs[i].as_bytes();
        table[(p[0] - b'a') as usize] |= 1 << (p[1] - b'a');
        i += 1;
    }
    table
}

fn common(a: u8, b: u8) -> bool {
    let (Some(a), Some(b)) = (a.checked_sub(b'a'), b.checked_sub(b'a')) else {
        return false;
    };
    COMMON
        .get(usize::from(a))
        .is_some_and(|row| b < 26 && row & (1 << b) != 0)
}

/// Second-level labels under which ccTLDs register names (`co.uk`).
const SECOND_LEVEL: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "gob", "mil",
];

/// Whether a domain name looks machine-generated (a DGA).
pub(crate) fn suspicious(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if crate::classify::cursor::is_ip_text(&name)
        || name.ends_with(".arpa")
        || name.ends_with(".local")
    {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let Some(label) = registered_label(&labels) else {
        return false;
    };
    if label.starts_with("xn--") || label.starts_with('_') {
        return false;
    }
    looks_generated(label.as_bytes())
}

/// The label a registrant chose: the one before the public suffix.
fn registered_label<'a>(labels: &[&'a str]) -> Option<&'a str> {
    let n = labels.len();
    if n < 2 {
        return None;
    }
    let tld = labels.get(n - 1)?;
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let second = labels.get(n - 2)?;
    if n >= 3 && tld.len() == 2 && SECOND_LEVEL.contains(second) {
        return labels.get(n - 3).copied();
    }
    Some(second)
}

fn vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

/// The features of one label, and the decision.
fn looks_generated(label: &[u8]) -> bool {
    if label.len() < 8 {
        return false;
    }
    let (mut pairs, mut hits) = (0u32, 0u32);
    let (mut run, mut max_run) = (0usize, 0usize);
    // Digit runs with letters on both sides ("q4c", "r5p57k").
    let mut interleaved = 0u32;
    let mut prev: Option<u8> = None;
    let mut digits_after_letter = false;
    for &b in label {
        if b.is_ascii_lowercase() {
            if let Some(p) = prev.filter(u8::is_ascii_lowercase) {
                pairs += 1;
                hits += u32::from(common(p, b));
            }
            run = if vowel(b) { 0 } else { run + 1 };
            max_run = max_run.max(run);
            if digits_after_letter {
                interleaved += 1;
                digits_after_letter = false;
            }
        } else {
            run = 0;
            if b.is_ascii_digit() {
                if prev.is_some_and(|p| p.is_ascii_lowercase()) {
                    digits_after_letter = true;
                }
            } else {
                digits_after_letter = false;
            }
        }
        prev = Some(b);
    }
    let ratio = if pairs == 0 {
        1.0
    } else {
        f64::from(hits) / f64::from(pairs)
    };
    let unpronounceable = pairs >= 5 && ratio < 0.2 || pairs >= 8 && ratio < 0.34 && max_run >= 5;
    let long_random =
        label.len() >= 16 && (interleaved >= 2 || max_run >= 5 || (pairs >= 8 && ratio < 0.35));
    unpronounceable || long_random
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_not_suspicious() {
        let names = [
            "google.com",
            "www.google.com",
            "www.l.google.com",
            "e7.whatsapp.net",
            "e12.whatsapp.net",
            "www.facebook.com",
            "star.c10r.facebook.com",
            "github.com",
            "cdn-123.akamaihd.net",
            "fbcdn.net",
            "scontent.xx.fbcdn.net",
            "googleusercontent.com",
            "googlesyndication.com",
            "doubleclickbygoogle.com",
            "www.bbc.co.uk",
            "amazon.co.jp",
            "microsoftonline.com",
            "login.live.com",
            "windowsupdate.com",
            "msftconnecttest.com",
            "cloudflare-dns.com",
            "mzstatic.com",
            "icloud.com",
            "apple.com",
            "weberlab.de",
            "fg2-mgmt.weberlab.de",
            "sigok.verteiltesysteme.net",
            "formel1.de",
            "erfpop.de",
            "twitter.com",
            "twimg.com",
            "nflxvideo.net",
            "nflximg.net",
            "spotify.com",
            "scdn.co",
            "dropbox.com",
            "youtube.com",
            "ytimg.com",
            "ggpht.com",
            "googlevideo.com",
            "r4---sn-4g5e6nze.googlevideo.com",
            "d1x2y3z4.cloudfront.net",
            "s3.eu-west-1.amazonaws.com",
            "wikipedia.org",
            "stackoverflow.com",
            "jsdelivr.net",
            "scorecardresearch.com",
            "crwdcntrl.net",
            "tiqcdn.com",
            "demdex.net",
            "office365.com",
            "sharepointonline.com",
            "gmr02c.16.0.fhkfhsdkfhsk.tunnel.example.com",
            "www.ct7ctrgb6cr7.com",
            "www.jmts2id.com",
            "www.t3i3ru.com",
            "www.6gyip7tqim7sieb.com",
            "_raop._tcp.local",
            "1.0.168.192.in-addr.arpa",
            "192.168.1.1",
            "localhost",
            "xn--mnchen-3ya.de",
        ];
        for name in names {
            assert!(!suspicious(name), "{name} flagged");
        }
    }

    #[test]
    fn classic_dga_names_are_suspicious() {
        let names = [
            // Conficker-like.
            "gxjimxbf.com",
            "wqtnzpxcmd.net",
            // Cryptolocker-like.
            "kqpmhqxmcuaiw.org",
            "rbswmwxkwuqvl.com",
            // Zeus GameOver-like.
            "1vjs2oxryf4ze1qqgz3vk3bfq4.com",
            "14h5nkw1gw8nrb1n4ls7ggllh7t.net",
            // Tor's random certificate names, as nDPI flags them.
            "www.q4cyamnc6mtokjurvdclt.com",
            "www.gfu7hbxpfp.com",
            "www.e6r5p57kbafwrxj3plz.com",
        ];
        for name in names {
            assert!(suspicious(name), "{name} not flagged");
        }
    }
}
