use super::*;

fn sample() -> Block {
    let tx = |n: u8, to: Option<u8>, value: u64, success| Tx {
        hash: [n; 32],
        from: [0xf0; 20],
        to: to.map(|t| [t; 20]),
        value: {
            let mut v = [0u8; 32];
            v[24..].copy_from_slice(&value.to_be_bytes());
            v
        },
        success,
    };
    Block {
        number: 7,
        timestamp: 1_700_000_000,
        hash: [0xaa; 32],
        parent: [0xbb; 32],
        txs: vec![tx(1, Some(2), 5, true), tx(3, None, 0, true), tx(4, Some(5), 9, false)],
        logs: vec![
            Log { tx: 0, index: 0, address: [9; 20], topics: vec![[1; 32], [2; 32], [3; 32]], data: vec![7; 32] },
            Log { tx: 2, index: 1, address: [8; 20], topics: vec![], data: vec![] },
        ],
        internal: vec![Internal { tx: 1, from: [0xc0; 20], to: [0xd0; 20], value: [0x01; 32] }],
    }
}

#[test]
fn encodes_and_reads_back() {
    let b = sample();
    let raw = b.encode();
    let v = BlockView::parse(&raw).unwrap();
    assert_eq!((v.number(), v.timestamp(), v.hash(), v.parent()), (7, 1_700_000_000, &[0xaa; 32], &[0xbb; 32]));
    assert_eq!(v.tx_count(), 3);
    let txs: Vec<Tx> = v
        .txs()
        .map(|t| Tx { hash: *t.hash(), from: *t.from(), to: t.to().copied(), value: *t.value(), success: t.success() })
        .collect();
    assert_eq!(txs, b.txs);
    let logs: Vec<Log> = v
        .logs()
        .map(|l| Log {
            tx: l.tx,
            index: l.index,
            address: *l.address,
            topics: (0..l.topic_count()).map(|i| *l.topic(i).unwrap()).collect(),
            data: l.data.to_vec(),
        })
        .collect();
    assert_eq!(logs, b.logs);
    let internal: Vec<Internal> =
        v.internal().map(|i| Internal { tx: i.tx(), from: *i.from(), to: *i.to(), value: *i.value() }).collect();
    assert_eq!(internal, b.internal);
    assert_eq!(v.tx(2).unwrap().hash(), &[4; 32]);
    assert!(v.tx(3).is_none());
    assert!(v.logs().next().unwrap().topic(3).is_none());
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    let raw = sample().encode();
    for n in 0..raw.len() {
        assert!(BlockView::parse(&raw[..n]).is_err(), "{n} bytes accepted");
    }
    let mut longer = raw.clone();
    longer.push(0);
    assert!(BlockView::parse(&longer).unwrap_err().to_string().contains("1 internal transfers in 77 bytes"));
}

#[test]
fn rejects_bad_magic_topics_and_tx_positions() {
    let mut raw = sample().encode();
    raw[0] = b'X';
    assert!(BlockView::parse(&raw).unwrap_err().to_string().contains("magic"));

    let mut b = sample();
    b.logs[0].topics = vec![[0; 32]; 5];
    assert!(BlockView::parse(&b.encode()).unwrap_err().to_string().contains("5 topics"));

    let mut b = sample();
    b.logs[1].tx = 3;
    assert!(BlockView::parse(&b.encode()).unwrap_err().to_string().contains("names tx 3 of 3"));

    let mut b = sample();
    b.internal[0].tx = 7;
    assert!(BlockView::parse(&b.encode()).unwrap_err().to_string().contains("internal transfer 0 names tx 7 of 3"));

    let mut raw = sample().encode();
    raw[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(BlockView::parse(&raw).is_err());
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let base = sample().encode();
    for _ in 0..5000 {
        let mut raw = base.clone();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % raw.len();
            raw[i] = (seed >> 32) as u8;
        }
        if let Ok(v) = BlockView::parse(&raw) {
            let _ = v.txs().count() + v.logs().count() + v.internal().count();
        }
    }
}

#[test]
fn u256_decimal_round_trips() {
    let max = [0xff; 32];
    let max_s = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    assert_eq!(u256_to_decimal(&max), max_s);
    assert_eq!(decimal_to_u256(max_s), Some(max));
    assert_eq!(decimal_to_u256("115792089237316195423570985008687907853269984665640564039457584007913129639936"), None);
    assert_eq!(u256_to_decimal(&[0; 32]), "0");
    assert_eq!(decimal_to_u256("0"), Some([0; 32]));
    for bad in ["", "-1", "1.5", "1e18", " 1"] {
        assert_eq!(decimal_to_u256(bad), None, "{bad:?}");
    }
    // 2^128: one past u128.
    let mut v = [0u8; 32];
    v[15] = 1;
    assert_eq!(u256_to_decimal(&v), "340282366920938463463374607431768211456");
    let mut seed = 99u64;
    for _ in 0..2000 {
        let mut v = [0u8; 32];
        for b in v.iter_mut() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (seed >> 56) as u8;
        }
        v[..(seed % 32) as usize].fill(0);
        let s = u256_to_decimal(&v);
        assert_eq!(decimal_to_u256(&s), Some(v), "{s}");
        if v[..16] == [0; 16] {
            assert_eq!(s, u128::from_be_bytes(v[16..].try_into().unwrap()).to_string());
        }
    }
}
