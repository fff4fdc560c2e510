//! Link-layer headers: Ethernet (802.1Q/QinQ), Linux cooked SLL/SLL2,
//! BSD NULL/LOOP, raw IP. Each is a fixed-size view with checked reads.

use crate::capture::linktype;

/// What follows the link header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// ARP, LLDP, ...: not ours.
    Other,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn by_ethertype(ethertype: u16, rest: &[u8]) -> L3<'_> {
    match ethertype {
        ETH_IPV4 => L3::Ipv4(rest),
        ETH_IPV6 => L3::Ipv6(rest),
        _ => L3::Other,
    }
}

fn by_version(data: &[u8]) -> Option<L3<'_>> {
    match data.first()? >> 4 {
        4 => Some(L3::Ipv4(data)),
        6 => Some(L3::Ipv6(data)),
        _ => Some(L3::Other),
    }
}

/// Strips the link header; `None` for link types we do not decode or
/// frames too short for their header.
pub fn strip(lt: u32, data: &[u8]) -> Option<L3<'_>> {
    match lt {
        linktype::ETHERNET => {
            let mut ethertype = be16(data, 12)?;
            let mut off = 14;
            // Any depth of VLAN tags (802.1Q, 802.1ad QinQ).
            let mut tags = 0;
            while ETH_VLAN.contains(&ethertype) && tags < 8 {
                ethertype = be16(data, off + 2)?;
                off += 4;
                tags += 1;
            }
            Some(by_ethertype(ethertype, data.get(off..)?))
        }
        linktype::LINUX_SLL => {
            let proto = be16(data, 14)?;
            Some(by_ethertype(proto, data.get(16..)?))
        }
        linktype::LINUX_SLL2 => {
            let proto = be16(data, 0)?;
            Some(by_ethertype(proto, data.get(20..)?))
        }
        linktype::NULL | linktype::LOOP => {
            // The family is in host byte order (NULL) or network order
            // (LOOP); read it both ways. IPv6 has three values by OS.
            let b = data.get(..4)?;
            let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let fam = if le < 256 { le } else { be };
            let rest = &data[4..];
            Some(match fam {
                2 => L3::Ipv4(rest),
                24 | 28 | 30 => L3::Ipv6(rest),
                _ => L3::Other,
            })
        }
        linktype::RAW | linktype::DLT_RAW_12 | linktype::DLT_RAW_14 => by_version(data),
        linktype::IPV4 => Some(L3::Ipv4(data)),
        linktype::IPV6 => Some(L3::Ipv6(data)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_with_qinq() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0]);
        assert_eq!(
            strip(linktype::ETHERNET, &f),
            Some(L3::Ipv4(&[0x45, 0][..]))
        );
    }

    #[test]
    fn sll_sll2_null_raw() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xdd, 0x60]);
        assert_eq!(
            strip(linktype::LINUX_SLL, &sll),
            Some(L3::Ipv6(&[0x60][..]))
        );
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.push(0x45);
        assert_eq!(
            strip(linktype::LINUX_SLL2, &sll2),
            Some(L3::Ipv4(&[0x45][..]))
        );
        assert_eq!(
            strip(linktype::NULL, &[2, 0, 0, 0, 0x45]),
            Some(L3::Ipv4(&[0x45][..]))
        );
        assert_eq!(
            strip(linktype::LOOP, &[0, 0, 0, 30, 0x60]),
            Some(L3::Ipv6(&[0x60][..]))
        );
        assert_eq!(
            strip(linktype::RAW, &[0x60, 1]),
            Some(L3::Ipv6(&[0x60, 1][..]))
        );
        assert_eq!(strip(linktype::ETHERNET, &[0u8; 5]), None);
        assert_eq!(strip(9999, &[0u8; 64]), None);
    }
}
