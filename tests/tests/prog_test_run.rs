//! Verdict tests: crafted frames through the real eBPF object with
//! BPF_PROG_TEST_RUN. Each case asserts the verdict and the one counter that
//! must move (a rule's, or a reason's) by exactly one packet and its bytes.

use fw_common::{Direction, Family, Reason, Verdict};
use fw_ctl::rule::{Action, StoredRule, compile::Defaults, display::canonical};
use fw_tests::{
    packet::{Ext, L4, Pkt},
    rig::{Rig, rules},
};

#[derive(Clone, Copy, Debug)]
enum Moves {
    Rule(u32),
    Reason(Reason),
}

fn id(list: &[StoredRule], text: &str, family: Family) -> u32 {
    list.iter()
        .find(|r| canonical(&r.rule) == text && r.rule.family == family)
        .unwrap_or_else(|| {
            panic!(
                "no rule '{text}' ({family:?}) in {:#?}",
                list.iter().map(|r| canonical(&r.rule)).collect::<Vec<_>>()
            )
        })
        .id
}

fn check(rig: &Rig, name: &str, dir: Direction, frame: &[u8], want: Verdict, moves: Moves) {
    let len = frame.len() as u64;
    let read = |m: Moves| match m {
        Moves::Rule(id) => rig.rule(id),
        Moves::Reason(r) => rig.reason(r, dir, want),
    };
    // A rule's decision is also counted under reason `rule` (or `fragment`
    // for a non-first fragment).
    let decided = || {
        rig.reason(Reason::Rule, dir, want).packets
            + rig.reason(Reason::Fragment, dir, want).packets
    };
    let before = read(moves);
    let decided_before = decided();
    let got = rig.verdict(dir, frame);
    assert_eq!(got, want, "{name}: verdict");
    let after = read(moves);
    assert_eq!(
        after.packets,
        before.packets + 1,
        "{name}: {moves:?} packets"
    );
    assert_eq!(after.bytes, before.bytes + len, "{name}: {moves:?} bytes");
    if let Moves::Rule(_) = moves {
        assert_eq!(
            decided(),
            decided_before + 1,
            "{name}: reason rule/fragment"
        );
    }
}

fn policy() -> Defaults {
    Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed: Action::Deny,
    }
}

fn setup() -> (Rig, Vec<StoredRule>) {
    let list = rules(&[
        "deny from 192.0.2.66",
        "allow from 192.0.2.0/24 to any port 22 proto tcp",
        "allow 514/udp",
        "allow 9000:9001/tcp",
        "allow proto gre from 198.51.100.0/24",
        "deny from 2001:db8::66",
        "allow from 2001:db8::/32 to any port 22 proto tcp",
        "allow in on eth9 to any port 8080 proto tcp",
        "allow in on eth7 to any port 8081 proto tcp",
        "allow proto icmp from 203.0.113.0/24",
        "reject 23/tcp",
        "limit 2222/tcp",
        "allow 80,443,1000:1010/tcp",
        "deny out to 203.0.113.9 port 50052 proto tcp",
        "allow from 10.0.0.0/8 port 9100",
    ]);
    let mut rig = Rig::new();
    rig.load(&list, policy());
    (rig, list)
}

const SSH: &str = "allow in proto tcp from 192.0.2.0/24 to any port 22";
const SSH6: &str = "allow in proto tcp from 2001:db8::/32 to any port 22";

#[test]
fn ipv4_first_match_ports_ranges_protocols() {
    let (rig, l) = setup();
    let v4 = Family::V4;
    let t = |s: &str, d: &str, l4| Pkt::new(s, d, l4).bytes();
    let pass = Verdict::Pass;
    let drop = Verdict::Drop;
    let d = Direction::In;
    check(
        &rig,
        "ssh from the admin net",
        d,
        &t("192.0.2.5", "192.0.2.1", L4::Tcp(40000, 22)),
        pass,
        Moves::Rule(id(&l, SSH, v4)),
    );
    check(
        &rig,
        "host deny before subnet allow",
        d,
        &t("192.0.2.66", "192.0.2.1", L4::Tcp(40000, 22)),
        drop,
        Moves::Rule(id(&l, "deny in from 192.0.2.66 to any", v4)),
    );
    check(
        &rig,
        "ssh from elsewhere",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(40000, 22)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "syslog udp",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Udp(5000, 514)),
        pass,
        Moves::Rule(id(&l, "allow in proto udp from any to any port 514", v4)),
    );
    check(
        &rig,
        "syslog rule is udp only",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(5000, 514)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    let both = id(&l, "allow in from 10.0.0.0/8 to any port 9100", v4);
    check(
        &rig,
        "port without proto: tcp",
        d,
        &t("10.1.1.1", "192.0.2.1", L4::Tcp(5000, 9100)),
        pass,
        Moves::Rule(both),
    );
    check(
        &rig,
        "port without proto: udp",
        d,
        &t("10.1.1.1", "192.0.2.1", L4::Udp(5000, 9100)),
        pass,
        Moves::Rule(both),
    );
    check(
        &rig,
        "port without proto: not sctp",
        d,
        &t("10.1.1.1", "192.0.2.1", L4::Other(132)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "515 udp",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Udp(5000, 515)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    let range = id(&l, "allow in proto tcp from any to any port 9000:9001", v4);
    check(
        &rig,
        "range low edge - 1",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 8999)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "range low edge",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 9000)),
        pass,
        Moves::Rule(range),
    );
    check(
        &rig,
        "range high edge",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 9001)),
        pass,
        Moves::Rule(range),
    );
    check(
        &rig,
        "range high edge + 1",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 9002)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "range is tcp only",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Udp(1, 9000)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    let list = id(
        &l,
        "allow in proto tcp from any to any port 80,443,1000:1010",
        v4,
    );
    for p in [80, 443, 1000, 1005, 1010] {
        check(
            &rig,
            &format!("list port {p}"),
            d,
            &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, p)),
            pass,
            Moves::Rule(list),
        );
    }
    for p in [79, 81, 442, 999, 1011] {
        check(
            &rig,
            &format!("outside list {p}"),
            d,
            &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, p)),
            drop,
            Moves::Reason(Reason::Policy),
        );
    }
    let gre = id(&l, "allow in proto gre from 198.51.100.0/24 to any", v4);
    check(
        &rig,
        "gre by number",
        d,
        &t("198.51.100.7", "192.0.2.1", L4::Other(47)),
        pass,
        Moves::Rule(gre),
    );
    check(
        &rig,
        "gre from elsewhere",
        d,
        &t("203.0.113.7", "192.0.2.1", L4::Other(47)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "sctp (other protocol)",
        d,
        &t("198.51.100.7", "192.0.2.1", L4::Other(132)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "icmp echo",
        d,
        &t("203.0.113.5", "192.0.2.1", L4::Icmp(8)),
        pass,
        Moves::Rule(id(&l, "allow in proto icmp from 203.0.113.0/24 to any", v4)),
    );
    check(
        &rig,
        "icmp from elsewhere",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Icmp(8)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "interface rule on the test device",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 8080)),
        pass,
        Moves::Rule(id(
            &l,
            "allow in on eth9 proto tcp from any to any port 8080",
            v4,
        )),
    );
    check(
        &rig,
        "interface rule on another device",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 8081)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "reject enforced as deny",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 23)),
        drop,
        Moves::Rule(id(&l, "reject in proto tcp from any to any port 23", v4)),
    );
    // Without flow tracking (this rig) a limit rule allows; the rate is
    // tests/tests/conntrack.rs's business.
    check(
        &rig,
        "limit allows (stateless)",
        d,
        &t("198.51.100.5", "192.0.2.1", L4::Tcp(1, 2222)),
        Verdict::Pass,
        Moves::Rule(id(&l, "limit in proto tcp from any to any port 2222", v4)),
    );
    let fw_reading = id(&l, "allow in from 10.0.0.0/8 to any port 9100", v4);
    check(
        &rig,
        "from X port P = destination port",
        d,
        &t("10.9.8.7", "192.0.2.1", L4::Tcp(40000, 9100)),
        pass,
        Moves::Rule(fw_reading),
    );
    check(
        &rig,
        "... not the source port",
        d,
        &t("10.9.8.7", "192.0.2.1", L4::Tcp(9100, 40000)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "... and not from outside 10/8",
        d,
        &t("11.9.8.7", "192.0.2.1", L4::Tcp(40000, 9100)),
        drop,
        Moves::Reason(Reason::Policy),
    );
    // Out rules do not apply to incoming packets.
    check(
        &rig,
        "out rule ignored inbound",
        d,
        &t("203.0.113.9", "192.0.2.1", L4::Tcp(50052, 50052)),
        drop,
        Moves::Reason(Reason::Policy),
    );
}

#[test]
fn vlan_options_fragments() {
    let (rig, l) = setup();
    let d = Direction::In;
    let ssh = id(&l, SSH, Family::V4);
    let base = Pkt::new("192.0.2.5", "192.0.2.1", L4::Tcp(40000, 22));
    let mut one = base.clone();
    one.vlans = vec![100];
    check(
        &rig,
        "one vlan tag",
        d,
        &one.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh),
    );
    let mut two = base.clone();
    two.vlans = vec![100, 200];
    check(
        &rig,
        "two vlan tags (802.1ad + 802.1Q)",
        d,
        &two.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh),
    );
    let mut three = base.clone();
    three.vlans = vec![100, 200, 300];
    check(
        &rig,
        "three vlan tags",
        d,
        &three.bytes(),
        Verdict::Drop,
        Moves::Reason(Reason::TooDeep),
    );
    let mut opts = base.clone();
    opts.v4_options = vec![1, 1, 1, 1, 1, 1, 1, 0];
    check(
        &rig,
        "ipv4 options (ihl 7)",
        d,
        &opts.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh),
    );
    let mut opts40 = base.clone();
    opts40.v4_options = vec![1; 40];
    check(
        &rig,
        "ipv4 options (ihl 15)",
        d,
        &opts40.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh),
    );
    let mut first = base.clone();
    first.v4_more = true;
    check(
        &rig,
        "first fragment has ports",
        d,
        &first.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh),
    );
    let mut later = base.clone();
    later.v4_frag = 100;
    check(
        &rig,
        "non-first fragment never matches a port rule",
        d,
        &later.bytes(),
        Verdict::Drop,
        Moves::Reason(Reason::Fragment),
    );
    let mut gre_frag = Pkt::new("198.51.100.7", "192.0.2.1", L4::Other(47));
    gre_frag.v4_frag = 7;
    let gre = id(
        &l,
        "allow in proto gre from 198.51.100.0/24 to any",
        Family::V4,
    );
    check(
        &rig,
        "non-first fragment matches a port-less rule",
        d,
        &gre_frag.bytes(),
        Verdict::Pass,
        Moves::Rule(gre),
    );
    let before = rig.reason(Reason::Fragment, d, Verdict::Pass);
    let _ = rig.verdict(d, &gre_frag.bytes());
    assert_eq!(
        rig.reason(Reason::Fragment, d, Verdict::Pass).packets,
        before.packets + 1,
        "fragment reason counted"
    );
}

#[test]
fn ipv6_extension_headers_and_nd() {
    let (rig, l) = setup();
    let d = Direction::In;
    let v6 = Family::V6;
    let ssh6 = id(&l, SSH6, v6);
    let t = |s: &str, dst: &str, l4| Pkt::new(s, dst, l4);
    check(
        &rig,
        "v6 ssh",
        d,
        &t("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22)).bytes(),
        Verdict::Pass,
        Moves::Rule(ssh6),
    );
    check(
        &rig,
        "v6 host deny first",
        d,
        &t("2001:db8::66", "2001:db8:1::1", L4::Tcp(40000, 22)).bytes(),
        Verdict::Drop,
        Moves::Rule(id(&l, "deny in from 2001:db8::66 to any", v6)),
    );
    check(
        &rig,
        "v6 outside prefix",
        d,
        &t("2001:db9::1", "2001:db8:1::1", L4::Tcp(40000, 22)).bytes(),
        Verdict::Drop,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "v6 syslog",
        d,
        &t("2001:db9::1", "2001:db8:1::1", L4::Udp(1, 514)).bytes(),
        Verdict::Pass,
        Moves::Rule(id(&l, "allow in proto udp from any to any port 514", v6)),
    );
    let mut ext = t("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22));
    ext.v6_ext = vec![
        Ext::HopByHop,
        Ext::DestOpts,
        Ext::Routing,
        Ext::Auth,
        Ext::DestOpts,
    ];
    check(
        &rig,
        "walk hop/dest/routing/AH/dest",
        d,
        &ext.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh6),
    );
    let mut f0 = t("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22));
    f0.v6_ext = vec![Ext::Fragment(0, true)];
    check(
        &rig,
        "v6 first fragment has ports",
        d,
        &f0.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh6),
    );
    let mut f1 = t("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22));
    f1.v6_ext = vec![Ext::HopByHop, Ext::Fragment(10, false)];
    check(
        &rig,
        "v6 non-first fragment",
        d,
        &f1.bytes(),
        Verdict::Drop,
        Moves::Reason(Reason::Fragment),
    );
    let mut deep = t("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22));
    deep.v6_ext = vec![Ext::DestOpts; 9];
    check(
        &rig,
        "more extension headers than walked",
        d,
        &deep.bytes(),
        Verdict::Drop,
        Moves::Reason(Reason::TooDeep),
    );
    let mut eight = t("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22));
    eight.v6_ext = vec![Ext::DestOpts; 8];
    check(
        &rig,
        "eight extension headers are walked",
        d,
        &eight.bytes(),
        Verdict::Pass,
        Moves::Rule(ssh6),
    );
    for ty in 133..=137 {
        check(
            &rig,
            &format!("neighbour discovery {ty}"),
            d,
            &t("fe80::2", "ff02::1", L4::Icmpv6(ty)).bytes(),
            Verdict::Pass,
            Moves::Reason(Reason::NeighborDiscovery),
        );
    }
    let mut nd_vlan = t("fe80::2", "ff02::1", L4::Icmpv6(135));
    nd_vlan.vlans = vec![5];
    check(
        &rig,
        "nd in a vlan",
        d,
        &nd_vlan.bytes(),
        Verdict::Pass,
        Moves::Reason(Reason::NeighborDiscovery),
    );
    check(
        &rig,
        "echo request v6 falls to policy",
        d,
        &t("2001:db9::1", "2001:db8:1::1", L4::Icmpv6(128)).bytes(),
        Verdict::Drop,
        Moves::Reason(Reason::Policy),
    );
}

#[test]
fn truncated_and_non_ip() {
    let (rig, _) = setup();
    let d = Direction::In;
    let tcp4 = Pkt::new("192.0.2.5", "192.0.2.1", L4::Tcp(40000, 22)).bytes();
    let udp4 = Pkt::new("192.0.2.5", "192.0.2.1", L4::Udp(40000, 514)).bytes();
    let tcp6 = Pkt::new("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22)).bytes();
    let mut ext6 = Pkt::new("2001:db8::5", "2001:db8:1::1", L4::Tcp(40000, 22));
    ext6.v6_ext = vec![Ext::Routing];
    let ext6 = ext6.bytes();
    let mut vlan = Pkt::new("192.0.2.5", "192.0.2.1", L4::Tcp(40000, 22));
    vlan.vlans = vec![9];
    let vlan = vlan.bytes();
    for (name, frame) in [
        // (frames shorter than 14 bytes: BPF_PROG_TEST_RUN refuses them, and
        // no Ethernet driver hands them to XDP)
        ("ethernet type only", &tcp4[..14]),
        ("vlan tag cut", &vlan[..16]),
        ("ipv4 header cut", &tcp4[..14 + 12]),
        ("tcp header cut", &tcp4[..14 + 20 + 10]),
        ("udp header cut", &udp4[..14 + 20 + 6]),
        ("ipv6 header cut", &tcp6[..14 + 30]),
        ("ipv6 ext header cut", &ext6[..14 + 40 + 2]),
        ("tcp after ipv6 cut", &tcp6[..14 + 40 + 12]),
    ] {
        check(
            &rig,
            name,
            d,
            frame,
            Verdict::Drop,
            Moves::Reason(Reason::Malformed),
        );
    }
    let mut bad_ihl = tcp4.clone();
    bad_ihl[14] = 0x44; // version 4, ihl 4 (< 5)
    check(
        &rig,
        "ihl < 5",
        d,
        &bad_ihl,
        Verdict::Drop,
        Moves::Reason(Reason::Malformed),
    );
    let mut long_ihl = tcp4[..14 + 20 + 20].to_vec();
    long_ihl[14] = 0x4f; // claims 60 bytes of header, frame has 40 after ethernet
    check(
        &rig,
        "ihl beyond the frame",
        d,
        &long_ihl,
        Verdict::Drop,
        Moves::Reason(Reason::Malformed),
    );
    let mut bad_ver = tcp4.clone();
    bad_ver[14] = 0x65;
    check(
        &rig,
        "ethertype ipv4, version 6",
        d,
        &bad_ver,
        Verdict::Drop,
        Moves::Reason(Reason::Malformed),
    );
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[0; 20]);
    check(
        &rig,
        "arp always passes",
        d,
        &arp,
        Verdict::Pass,
        Moves::Reason(Reason::Arp),
    );
    let mut lldp = arp.clone();
    lldp[12] = 0x88;
    lldp[13] = 0xcc;
    check(
        &rig,
        "non-ip passes",
        d,
        &lldp,
        Verdict::Pass,
        Moves::Reason(Reason::NonIp),
    );
}

#[test]
fn egress_rules_on_tc() {
    let (rig, l) = setup();
    let d = Direction::Out;
    let out = id(
        &l,
        "deny out proto tcp from any to 203.0.113.9 port 50052",
        Family::V4,
    );
    check(
        &rig,
        "deny out",
        d,
        &Pkt::new("192.0.2.1", "203.0.113.9", L4::Tcp(40000, 50052)).bytes(),
        Verdict::Drop,
        Moves::Rule(out),
    );
    check(
        &rig,
        "other port out: policy allow",
        d,
        &Pkt::new("192.0.2.1", "203.0.113.9", L4::Tcp(40000, 50053)).bytes(),
        Verdict::Pass,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "in rules do not apply outbound",
        d,
        &Pkt::new("192.0.2.66", "192.0.2.1", L4::Tcp(1, 1)).bytes(),
        Verdict::Pass,
        Moves::Reason(Reason::Policy),
    );
    check(
        &rig,
        "arp out",
        d,
        &{
            let mut a = vec![0xff; 6];
            a.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
            a.extend_from_slice(&[0; 28]);
            a
        },
        Verdict::Pass,
        Moves::Reason(Reason::Arp),
    );
}

#[test]
fn default_policies_and_swaps() {
    let mut rig = Rig::new();
    let frame = Pkt::new("198.51.100.5", "192.0.2.1", L4::Udp(1, 2055)).bytes();
    rig.load(
        &[],
        Defaults {
            incoming: Action::Allow,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
    );
    check(
        &rig,
        "default allow incoming",
        Direction::In,
        &frame,
        Verdict::Pass,
        Moves::Reason(Reason::Policy),
    );
    rig.load(
        &[],
        Defaults {
            incoming: Action::Deny,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
    );
    check(
        &rig,
        "default deny incoming",
        Direction::In,
        &frame,
        Verdict::Drop,
        Moves::Reason(Reason::Policy),
    );
    let out = Pkt::new("192.0.2.1", "198.51.100.5", L4::Udp(1, 2055)).bytes();
    rig.load(
        &[],
        Defaults {
            incoming: Action::Deny,
            outgoing: Action::Deny,
            routed: Action::Deny,
        },
    );
    check(
        &rig,
        "default deny outgoing",
        Direction::Out,
        &out,
        Verdict::Drop,
        Moves::Reason(Reason::Policy),
    );
    // Counters belong to rule ids: inserting a rule in front keeps them.
    let list = rules(&["allow 2055/udp"]);
    rig.load(&list, Defaults::default());
    let _ = rig.verdict(Direction::In, &frame);
    let id = list[0].id;
    assert_eq!(rig.rule(id).packets, 1);
    let mut moved = rules(&["deny from 203.0.113.0/24", "allow 2055/udp"]);
    for r in &mut moved {
        // keep the old rule's id, give the new one a fresh id
        r.id = if canonical(&r.rule).contains("2055") {
            r.id + 100
        } else {
            r.id + 200
        };
    }
    let v4_2055 = moved
        .iter_mut()
        .find(|r| canonical(&r.rule).contains("2055") && r.rule.family == Family::V4)
        .expect("rule");
    v4_2055.id = id;
    let c = rig.compile(&moved, Defaults::default());
    rig.dp.apply(&c, &[200, 102]).expect("apply");
    assert_eq!(rig.rule(id).packets, 1, "insert in front kept the counter");
    let _ = rig.verdict(Direction::In, &frame);
    assert_eq!(rig.rule(id).packets, 2);
}

/// An IPv6 entry is found by a fingerprint of the masked addresses; the
/// addresses stored beside it must match too. Here the stored address of
/// the only entry is changed, as if another address had hashed alike: the
/// packet with the fingerprint's address no longer matches.
#[test]
fn ipv6_fingerprint_hit_needs_the_stored_addresses() {
    let mut rig = Rig::new();
    let list = rules(&["deny from 2001:db8::66"]);
    let ids: Vec<u32> = list.iter().map(|r| r.id).collect();
    let allow_in = Defaults {
        incoming: Action::Allow,
        outgoing: Action::Allow,
        routed: Action::Deny,
    };
    let frame = Pkt::new("2001:db8::66", "2001:db8:1::1", L4::Tcp(4000, 22)).bytes();
    let c = rig.compile(&list, allow_in);
    assert_eq!(c.v6.len(), 1);
    rig.dp.apply(&c, &ids).expect("apply");
    check(
        &rig,
        "intact entry",
        Direction::In,
        &frame,
        Verdict::Drop,
        Moves::Rule(list[0].id),
    );
    let mut c = rig.compile(&list, allow_in);
    c.v6[0].1.src[3] ^= 0x0100_0000;
    rig.dp.apply(&c, &[]).expect("apply");
    check(
        &rig,
        "same fingerprint, other address",
        Direction::In,
        &frame,
        Verdict::Pass,
        Moves::Reason(Reason::Policy),
    );
}

/// The verifier walks the shape loop once per shape; a change that makes
/// its paths multiply can push the programs past the verifier's limit of a
/// million processed instructions on some kernel. Both programs must stay
/// under half of it (about 63,000 each on 6.18).
#[test]
fn verifier_work_leaves_headroom() {
    let rig = Rig::new();
    for (name, (_, _, verified)) in [("fw_xdp", rig.xdp_size()), ("fw_tc_egress", rig.tc_size())] {
        assert!(verified > 0, "{name}: the kernel reports no verifier count");
        eprintln!("{name}: the verifier processed {verified} instructions");
        assert!(
            verified < 500_000,
            "{name}: the verifier processed {verified} instructions"
        );
    }
}
