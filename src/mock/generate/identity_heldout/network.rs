//! The held-out tenant's networks, applications and clients: the places sign-ins come from,
//! named by address, ASN and country.
//!
//! Applications are Microsoft's first-party ids as sign-in logs show them (OfficeHome, Microsoft
//! Office, One Outlook Web, Microsoft Authentication Broker, Microsoft Teams, My Signins, Outlook
//! Mobile). ASNs and blocks are inferred: real operators' numbers (Free, Bouygues, SFR, Orange,
//! Free Mobile, Zscaler, Microsoft, Hetzner, OVH, Vultr, Akamai/Linode, Amazon, Google Cloud,
//! Datacamp), with addresses drawn inside plausible
//! blocks of theirs; none of them is the standard family's.

use fastrand::Rng;

use super::shapes::Net;

pub type App = (&'static str, &'static str);

pub const OFFICE_HOME: App = ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome");
pub const MICROSOFT_OFFICE: App = ("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office");
pub const ONE_OUTLOOK_WEB: App = ("9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web");
pub const AUTH_BROKER: App = (
    "29d9ed98-a469-4536-ade2-f981bc1d605e",
    "Microsoft Authentication Broker",
);
pub const TEAMS: App = ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams");
pub const MY_SIGNINS: App = ("19db86c3-b2b9-44cc-b339-36da233a3be2", "My Signins");
pub const OUTLOOK_MOBILE: App = ("27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile");
pub const EXCHANGE_ONLINE: App = (
    "00000002-0000-0ff1-ce00-000000000000",
    "Office 365 Exchange Online",
);

/// ASNs (inferred operators).
pub const ASN_FREE: u32 = 12322;
pub const ASN_BOUYGUES: u32 = 5410;
pub const ASN_SFR: u32 = 15557;
pub const ASN_ORANGE: u32 = 3215;
pub const ASN_FREE_MOBILE: u32 = 51207;
pub const ASN_ZSCALER: u32 = 53813;
pub const ASN_MICROSOFT: u32 = 8075;

/// The office's one public address: every employee in the office comes from it (a NAT).
pub fn office_nat() -> Net {
    Net {
        ip: "88.172.30.14".into(),
        asn: ASN_FREE,
        country: "FR",
        city: "Lyon",
    }
}

/// Home ISPs: (ASN, first two octets, city).
pub const HOME_ISPS: &[(u32, (u8, u8), &str)] = &[
    (ASN_BOUYGUES, (89, 156), "Villeurbanne"),
    (ASN_SFR, (109, 190), "Lyon"),
    (ASN_ORANGE, (90, 45), "Vénissieux"),
    (ASN_FREE, (82, 64), "Caluire-et-Cuire"),
];

/// A home lease in `isp`.
pub fn home(rng: &mut Rng, (asn, (a, b), city): (u32, (u8, u8), &'static str)) -> Net {
    Net {
        ip: format!("{a}.{b}.{}.{}", rng.u8(..), rng.u8(1..=254)),
        asn,
        country: "FR",
        city,
    }
}

/// An IPv6 privacy address (RFC 8981: a random interface id) inside a home's /64.
pub fn privacy_address(rng: &mut Rng, prefix: &str) -> Net {
    Net {
        ip: format!(
            "{prefix}:{:x}:{:x}:{:x}:{:x}",
            rng.u16(1..),
            rng.u16(..),
            rng.u16(..),
            rng.u16(1..)
        ),
        asn: ASN_FREE,
        country: "FR",
        city: "Lyon",
    }
}

/// A phone on the mobile carrier (carrier-grade NAT: any address of its pool).
pub fn carrier(rng: &mut Rng) -> Net {
    Net {
        ip: format!("37.170.{}.{}", rng.u8(..), rng.u8(1..=254)),
        asn: ASN_FREE_MOBILE,
        country: "FR",
        city: "Lyon",
    }
}

/// The corporate VPN's egress points; the employee who uses it lands in another each day.
pub const VPN_EGRESS: &[((u8, u8, u8), &str, &str)] = &[
    ((165, 225, 76), "FR", "Paris"),
    ((165, 225, 72), "DE", "Frankfurt am Main"),
    ((165, 225, 66), "NL", "Amsterdam"),
    ((165, 225, 94), "CH", "Zurich"),
    ((147, 161, 160), "BE", "Brussels"),
    ((165, 225, 92), "ES", "Madrid"),
];

pub fn vpn_egress(rng: &mut Rng, day: usize) -> Net {
    let ((a, b, c), country, city) = VPN_EGRESS[day % VPN_EGRESS.len()];
    Net {
        ip: format!("{a}.{b}.{c}.{}", rng.u8(1..=254)),
        asn: ASN_ZSCALER,
        country,
        city,
    }
}

/// The cloud VDI's outbound addresses (a host pool in a French Azure region behind two SNAT
/// addresses): a hosting provider's network, used legitimately every working day.
pub fn vdi_egress(index: usize) -> Net {
    Net {
        ip: ["20.74.18.37", "20.74.19.202"][index % 2].into(),
        asn: ASN_MICROSOFT,
        country: "FR",
        city: "Paris",
    }
}

/// A customer's guest Wi-Fi, where a sales employee works some afternoons.
pub fn customer_site(rng: &mut Rng) -> Net {
    Net {
        ip: format!("80.12.40.{}", rng.u8(1..=254)),
        asn: ASN_ORANGE,
        country: "FR",
        city: "Marseille",
    }
}

/// A hosting provider's address: (ASN, block, country, city).
pub type Hosting = (u32, (u8, u8), &'static str, &'static str);

/// VPSs a device-code phisher polls the token endpoint from (another cloud than the tenant's).
pub const DEVICE_CODE_VPS: &[Hosting] = &[
    (24940, (49, 12), "DE", "Falkenstein"),
    (16276, (51, 75), "FR", "Gravelines"),
    (63949, (172, 105), "DE", "Frankfurt am Main"),
];
/// Where AiTM kits run (a hosting ASN, not the standard family's).
pub const AITM_KITS: &[Hosting] = &[
    (20473, (45, 76), "NL", "Amsterdam"),
    (396982, (34, 163), "FR", "Paris"),
    (16509, (13, 38), "FR", "Paris"),
];
/// A hosting provider's small VPSs the low-and-slow replays come from.
pub const REPLAY_VPS: &[Hosting] = &[
    (60068, (185, 153), "FR", "Paris"),
    (212238, (138, 199), "FR", "Marseille"),
];

/// An address at one of `networks`, drawn from the seed.
pub fn any_hosted(rng: &mut Rng, networks: &[Hosting]) -> Net {
    let network = networks[rng.usize(..networks.len())];
    hosted(rng, network)
}

pub fn hosted(rng: &mut Rng, (asn, (a, b), country, city): Hosting) -> Net {
    Net {
        ip: format!("{a}.{b}.{}.{}", rng.u8(..), rng.u8(1..=254)),
        asn,
        country,
        city,
    }
}

/// A residential proxy exit in France, on an ISP the victim does not use (`avoid`).
pub fn residential_proxy(rng: &mut Rng, avoid: u32) -> Net {
    let choices: Vec<_> = HOME_ISPS.iter().filter(|i| i.0 != avoid).collect();
    let (asn, (_, _), city) = *choices[rng.usize(..choices.len())];
    // Proxies sit in other blocks of the same operators.
    let block = match asn {
        ASN_BOUYGUES => (176, 142),
        ASN_SFR => (93, 23),
        ASN_ORANGE => (86, 247),
        _ => (88, 120),
    };
    Net {
        ip: format!("{}.{}.{}.{}", block.0, block.1, rng.u8(..), rng.u8(1..=254)),
        asn,
        country: "FR",
        city,
    }
}

/// Password sprayers' addresses: a few hosting and residential networks abroad.
pub const SPRAY_NETWORKS: &[Hosting] = &[
    (4134, (121, 224), "CN", "Nanjing"),
    (9829, (117, 200), "IN", "Mumbai"),
    (28573, (177, 92), "BR", "São Paulo"),
    (14618, (54, 210), "US", "Ashburn"),
    (8452, (156, 204), "EG", "Cairo"),
    (45899, (14, 186), "VN", "Hanoi"),
];

/// User agents.
pub const EDGE_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
pub const OUTLOOK_UA: &str =
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)";
pub const OUTLOOK_IOS_UA: &str = "Outlook-iOS/2.0";
pub const TEAMS_ROOM_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/24295.605.3225.8804 Chrome/126.0.6478.234 Electron/31.7.3 Safari/537.36";
pub const MSAL_PYTHON_UA: &str = "python-requests/2.32.3 msal/1.31.0";
pub const FIREFOX_LINUX_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
pub const SPRAY_UA: &str = "BAV2ROPC";

/// `ClientInfoString`s.
pub const OWA_CLIENT: &str = "Client=OWA;Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
pub const OUTLOOK_CLIENT: &str = "Client=MSExchangeRPC";
pub const REST_CLIENT: &str = "Client=REST;Client=RESTSystem;;";
pub const MOBILE_CLIENT: &str = "Client=OutlookService;Outlook-iOS/2.0;";
