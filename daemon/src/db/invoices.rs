//! Reading invoices, their address pools and timers, refunds and claim tokens.

use super::schema::*;
use super::*;
pub(crate) use paywatch_plugin_api::events::{Exception, InvoiceStatus, RefundStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// A payment request. Amounts in base units, as decimal strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InvoiceRecord {
    pub(crate) id: Uuid,
    pub(crate) store: String,
    pub(crate) order_id: String,
    pub(crate) asset: String,
    pub(crate) chain: String,
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
    pub(crate) refund_email: Option<String>,
    pub(crate) decimals: u8,
    pub(crate) amount_due: String,
    pub(crate) amount_paid: String,
    pub(crate) amount_confirmed: String,
    /// Payments below this (base units) are dust, never the invoice's: the asset's
    /// `min_payment` when the invoice was made. Invoices made before it existed have none, and
    /// every payment counts for them as it did then.
    #[serde(default = "no_minimum")]
    pub(crate) min_payment: String,
    /// Accepted underpayment, in basis points.
    pub(crate) tolerance_bp: u32,
    pub(crate) required_confirmations: u32,
    pub(crate) address: String,
    /// Where the address came from (derivation or list index), to reuse it later.
    pub(crate) address_index: Option<u32>,
    /// The receive source the address came from (its pool); absent in invoices made before
    /// schema 6, whose released addresses go to the legacy pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) address_source: Option<SourceId>,
    pub(crate) watch_id: Uuid,
    pub(crate) payment_uri: String,
    pub(crate) status: InvoiceStatus,
    pub(crate) exception: Exception,
    pub(crate) cancelled: bool,
    /// The address went back to the pool after the monitoring window (nothing was paid).
    pub(crate) released: bool,
    /// Events emitted so far for this invoice (each event carries its number).
    pub(crate) sequence: u64,
    /// SHA-256 of the creating request, to tell a retry from a conflicting request.
    pub(crate) request_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) monitoring_until: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    /// The price's currency: an ISO 4217 code or an asset id. Invoices made before schema 8
    /// have none: they are priced in their asset (filled in on read, [`InvoiceRecord::upgraded`]).
    #[serde(default)]
    pub(crate) currency: String,
    /// Decimals of the currency (its minor units, or the asset's decimals).
    #[serde(default)]
    pub(crate) currency_decimals: u8,
    /// The price in the currency's unit, e.g. `"25.00"`.
    #[serde(default)]
    pub(crate) price: String,
    /// What the counted payments are worth in the currency (exact decimal, at the locked
    /// rates), and those with the required confirmations.
    #[serde(default)]
    pub(crate) value_paid: String,
    #[serde(default)]
    pub(crate) value_confirmed: String,
    /// What is still to pay in the currency: the price less `value_paid`, zero at least.
    #[serde(default)]
    pub(crate) value_due: String,
    /// Every payment method; the first is the one `asset`, `address`, `watch_id`… describe.
    #[serde(default)]
    pub(crate) methods: Vec<MethodRecord>,
    /// Where the checkout page sends the customer back to the shop (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) redirect_url: Option<String>,
    /// Made through a gateway-compatible API (`/bitpay`, `/coingate`, `/coinpayments`): that
    /// gateway's own fields of the invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gateway: Option<GatewayRecord>,
}

/// The gateway-compatible API an invoice was made through, and that gateway's own fields of it
/// (its order id, the shop's callback URL and data…), which its platform plugin reads from
/// every `invoice.*` event. Never a secret: it is in events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GatewayRecord {
    /// `bitpay`, `coingate` or `coinpayments`.
    pub(crate) kind: String,
    /// The gateway's fields, as its module of `api::compat` keeps them.
    pub(crate) data: Value,
}

/// One way to pay an invoice: an asset, its own address (and watch), the rate locked at
/// creation, and what is still due in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MethodRecord {
    pub(crate) asset: String,
    pub(crate) chain: String,
    pub(crate) decimals: u8,
    pub(crate) address: String,
    pub(crate) address_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) address_source: Option<SourceId>,
    pub(crate) watch_id: Uuid,
    /// Payments below this (base units) are dust.
    pub(crate) min_payment: String,
    /// Currency units one unit of the asset is worth, as locked (exact decimal).
    pub(crate) rate: String,
    /// Where the rate came from (`same_asset` for an invoice priced in its asset).
    pub(crate) rate_source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) rate_at: OffsetDateTime,
    /// Base units still due in this asset (the price less what was paid, rounded up).
    pub(crate) amount_due: String,
    /// Base units paid to this method's address that count.
    pub(crate) amount_paid: String,
    /// BIP21 / EIP-681 URI for `amount_due`.
    pub(crate) payment_uri: String,
}

/// The rate source of an invoice priced in the asset it is paid in.
pub(crate) const SAME_ASSET: &str = "same_asset";

impl InvoiceRecord {
    /// Fills in what invoices made before schema 8 lack: priced in their asset, one method at
    /// rate 1, their totals as values.
    pub(crate) fn upgraded(mut self) -> Self {
        if !self.methods.is_empty() {
            return self;
        }
        let paid = self.amount_paid.parse::<Amount>().unwrap_or_default();
        let due = self.amount_due.parse::<Amount>().unwrap_or_default();
        self.currency = self.asset.clone();
        self.currency_decimals = self.decimals;
        self.price = due.to_units_string(self.decimals);
        self.value_paid = paid.to_units_string(self.decimals);
        self.value_confirmed =
            self.amount_confirmed.parse::<Amount>().unwrap_or_default().to_units_string(self.decimals);
        self.value_due = due.saturating_sub(paid).to_units_string(self.decimals);
        self.methods = vec![MethodRecord {
            asset: self.asset.clone(),
            chain: self.chain.clone(),
            decimals: self.decimals,
            address: self.address.clone(),
            address_index: self.address_index,
            address_source: self.address_source,
            watch_id: self.watch_id,
            min_payment: self.min_payment.clone(),
            rate: "1".into(),
            rate_source: SAME_ASSET.into(),
            rate_at: self.created_at,
            amount_due: due.saturating_sub(paid).to_string(),
            amount_paid: paid.to_string(),
            payment_uri: self.payment_uri.clone(),
        }];
        self
    }

    /// This record does not read as an invoice: `reason` says why.
    pub(crate) fn corrupt(&self, reason: impl ToString) -> DbError {
        corrupt(CF_INVOICES, self.id.as_bytes(), reason)
    }

    /// The method a payment of `asset` through this watch pays: two methods on one chain may
    /// share an address and its watch (the coin and a token), so the asset tells them apart.
    pub(crate) fn method_of(&self, watch: Uuid, asset: &str) -> Option<usize> {
        self.methods.iter().position(|m| m.watch_id == watch && m.asset == asset)
    }
}

impl MethodRecord {
    /// `min_payment`, read.
    pub(crate) fn min_payment(&self, invoice: Uuid) -> Result<Amount, DbError> {
        stored_amount(CF_INVOICES, invoice.as_bytes(), "methods.min_payment", &self.min_payment)
    }
}

impl InvoiceRecord {
    /// `min_payment` (the first method's), read; code reads each method's
    /// ([`MethodRecord::min_payment`]).
    #[cfg(test)]
    pub(crate) fn min_payment(&self) -> Result<Amount, DbError> {
        stored_amount(CF_INVOICES, self.id.as_bytes(), "min_payment", &self.min_payment)
    }
}

fn no_minimum() -> String {
    "0".into()
}

/// A receive source (a store's descriptor, xpub or address list for an asset) as the SHA-256
/// of what identifies it (made by `invoices`): address pools are kept per source, so an
/// address of one source is never handed out for another. Stored as hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SourceId(pub(crate) [u8; 32]);

impl Serialize for SourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(|e| serde::de::Error::custom(format!("source {s:?}: {e}")))?;
        Ok(Self(out))
    }
}

/// A free address's key: in its source's pool, or the legacy pool (`None`).
pub(super) fn free_key(store: &str, asset: &str, source: Option<&SourceId>, index: u32) -> Vec<u8> {
    let mut k = match source {
        Some(s) => pool_key(tag::FREE, store, asset, &s.0),
        None => store_asset(tag::LEGACY_FREE, store, asset),
    };
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// A refund the merchant pays from their own wallet; paywatch watches its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RefundRecord {
    pub(crate) id: Uuid,
    pub(crate) invoice_id: Uuid,
    pub(crate) store: String,
    pub(crate) asset: String,
    pub(crate) chain: String,
    pub(crate) decimals: u8,
    /// Base units.
    pub(crate) amount: String,
    /// `original` or `current`, as the merchant stated it.
    pub(crate) rate_policy: String,
    pub(crate) reason: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) payment_uri: Option<String>,
    pub(crate) watch_id: Option<Uuid>,
    pub(crate) status: RefundStatus,
    /// The payment that completed it.
    pub(crate) txid: Option<String>,
    /// SHA-256 (hex) of the one-time claim token; the token itself is never stored.
    pub(crate) claim_token_sha256: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) claim_expires_at: Option<OffsetDateTime>,
    /// Claims with the token that gave a refused address; the token locks at a limit
    /// (`invoices::refunds`). Absent in refunds written before it existed: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) claim_failures: u32,
    pub(crate) required_confirmations: u32,
    pub(crate) request_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    /// How it was priced: `rate_then`, `current_rate`, `fiat`, `overpaid` or `custom`.
    /// Refunds made before schema 8 have none: `custom` (filled in on read, with the fields
    /// below: [`RefundRecord::upgraded`]).
    #[serde(default)]
    pub(crate) variant: String,
    /// The invoice's currency, in which `value` is.
    #[serde(default)]
    pub(crate) currency: String,
    /// What it settles of the invoice, an exact decimal in the currency: counted against what
    /// the invoice can refund (the full value, whatever the merchant keeps as a fee).
    #[serde(default)]
    pub(crate) value: String,
    /// Currency units one unit of the asset was worth for it (the method's locked rate, or
    /// today's), its source and time.
    #[serde(default)]
    pub(crate) rate: String,
    #[serde(default)]
    pub(crate) rate_source: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) rate_at: Option<OffsetDateTime>,
    /// The share (percent, e.g. `"2.5"`) the merchant kept: `amount` is what was left of the
    /// converted amount after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subtract_percent: Option<String>,
    /// The second key's approval it needs (its value above the store's threshold), since
    /// schema 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) approval: Option<ApprovalRecord>,
}

/// A large refund's approval: who asked, the threshold, who decided and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ApprovalRecord {
    pub(crate) threshold: String,
    /// The key id that made the refund.
    pub(crate) requested_by: String,
    pub(crate) decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub(crate) decided_at: Option<OffsetDateTime>,
    /// Its value in the invoice's value units, as added to the invoice's refund totals (taken
    /// off them again if it is rejected).
    pub(crate) units: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RefundRecord {
    /// Fills in what refunds made before schema 8 lack: a `custom` refund in its invoice's
    /// asset, which was its currency, at rate 1 (so its value is its amount).
    pub(crate) fn upgraded(mut self) -> Self {
        if !self.variant.is_empty() {
            return self;
        }
        self.variant = "custom".into();
        self.currency = self.asset.clone();
        let amount = self.amount.parse::<Amount>().unwrap_or_default();
        self.value = amount.to_units_string(self.decimals);
        self.rate = "1".into();
        self.rate_source = SAME_ASSET.into();
        self.rate_at = Some(self.created_at);
        self
    }

    pub(crate) fn corrupt(&self, reason: impl ToString) -> DbError {
        DbError::Corrupt { cf: CF_REFUNDS, key: self.id.to_string(), reason: reason.to_string() }
    }

    /// `amount` (base units), read.
    pub(crate) fn base_amount(&self) -> Result<Amount, DbError> {
        stored_amount(CF_REFUNDS, self.id.as_bytes(), "amount", &self.amount)
    }
}

impl Db {
    pub(crate) fn invoice(&self, id: Uuid) -> Result<Option<InvoiceRecord>, DbError> {
        let raw = self.db.get_cf(self.cf(CF_INVOICES), id.as_bytes())?;
        Ok(raw
            .map(|v| decode::<InvoiceRecord>(CF_INVOICES, id.as_bytes(), &v))
            .transpose()?
            .map(InvoiceRecord::upgraded))
    }

    /// A store's invoice for an order id.
    pub(crate) fn invoice_by_order(&self, store: &str, order_id: &str) -> Result<Option<InvoiceRecord>, DbError> {
        let k = tagged(tag::ORDER, store, order_id.as_bytes());
        match self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? {
            Some(id) => self.invoice(Uuid::from_slice(&id).map_err(|e| corrupt(CF_INVOICE_INDEX, &k, e))?),
            None => Ok(None),
        }
    }

    /// Those of a store's next `limit` invoices (creation order, after `after`) that `keep`,
    /// and where the next page starts when there may be more (a page may hold fewer matches).
    pub(crate) fn store_invoices(
        &self,
        store: &str,
        after: Option<Uuid>,
        limit: usize,
        keep: impl Fn(&InvoiceRecord) -> bool,
    ) -> Result<(Vec<InvoiceRecord>, Option<Uuid>), DbError> {
        let mut out = Vec::new();
        let ids = self.ids_after(CF_INVOICE_INDEX, &tagged(tag::STORE, store, &[]), after, limit)?;
        let next = (ids.len() == limit).then(|| ids.last().copied()).flatten();
        for id in ids {
            let inv = self.invoice(id)?;
            let inv = inv.ok_or_else(|| corrupt(CF_INVOICE_INDEX, id.as_bytes(), "index entry without an invoice"))?;
            if keep(&inv) {
                out.push(inv);
            }
        }
        Ok((out, next))
    }

    /// What an idempotency key of a store was used for: (request hash, id).
    pub(crate) fn idempotency(&self, store: &str, key: &str) -> Result<Option<(String, Uuid)>, DbError> {
        let k = tagged(tag::IDEMPOTENCY, store, key.as_bytes());
        let Some(raw) = self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? else { return Ok(None) };
        let v: serde_json::Value = decode(CF_INVOICE_INDEX, &k, &raw)?;
        let hash = v["hash"].as_str().unwrap_or_default().to_string();
        let id =
            v["id"].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| corrupt(CF_INVOICE_INDEX, &k, "bad id"))?;
        Ok(Some((hash, id)))
    }

    /// Timers due at or before `now` (unix seconds): (at, invoice id, kind), oldest first.
    pub(crate) fn due_timers(&self, now: i64) -> Result<Vec<(i64, Uuid, u8)>, DbError> {
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_INVOICE_INDEX), [tag::TIMER]) {
            let (k, v) = item?;
            if k.first() != Some(&tag::TIMER) {
                break;
            }
            let at = k.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0) as i64;
            if at > now {
                break;
            }
            let id = k
                .get(9..)
                .and_then(|b| Uuid::from_slice(b).ok())
                .ok_or_else(|| corrupt(CF_INVOICE_INDEX, &k, "bad timer"))?;
            out.push((at, id, v.first().copied().unwrap_or(0)));
        }
        Ok(out)
    }

    /// The next index of a receive source of a store's asset: its own counter, else the one
    /// all sources shared before schema 6 (so nothing counted out then is counted out again),
    /// else 0.
    pub(crate) fn next_index(&self, store: &str, asset: &str, source: &SourceId) -> Result<u32, DbError> {
        for k in [pool_key(tag::NEXT, store, asset, &source.0), store_asset(tag::LEGACY_NEXT, store, asset)] {
            if let Some(v) = self.db.get_cf(self.cf(CF_ADDRESSES), &k)? {
                let v: [u8; 4] = v.as_slice().try_into().map_err(|_| corrupt(CF_ADDRESSES, &k, "bad index"))?;
                return Ok(u32::from_be_bytes(v));
            }
        }
        Ok(0)
    }

    /// The free addresses (index, address) of a source's pool of a store's asset, or of its
    /// legacy pool (`None`), lowest index first, at most `limit`.
    pub(crate) fn free_addresses(
        &self,
        store: &str,
        asset: &str,
        source: Option<&SourceId>,
        limit: usize,
    ) -> Result<Vec<(u32, String)>, DbError> {
        let prefix = match source {
            Some(s) => pool_key(tag::FREE, store, asset, &s.0),
            None => store_asset(tag::LEGACY_FREE, store, asset),
        };
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_ADDRESSES), &prefix) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let index = k[prefix.len()..]
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt(CF_ADDRESSES, &k, "bad index"))?;
            out.push((index, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    pub(crate) fn refund(&self, id: Uuid) -> Result<Option<RefundRecord>, DbError> {
        let raw = self.db.get_cf(self.cf(CF_REFUNDS), id.as_bytes())?;
        Ok(raw.map(|v| decode::<RefundRecord>(CF_REFUNDS, id.as_bytes(), &v)).transpose()?.map(RefundRecord::upgraded))
    }

    /// An invoice's refunds, oldest first.
    pub(crate) fn invoice_refunds(&self, invoice: Uuid) -> Result<Vec<RefundRecord>, DbError> {
        let mut prefix = vec![tag::REFUND];
        prefix.extend_from_slice(invoice.as_bytes());
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_INVOICE_INDEX), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let id = Uuid::from_slice(&k[prefix.len()..]).map_err(|e| corrupt(CF_INVOICE_INDEX, &k, e))?;
            out.push(self.refund(id)?.ok_or_else(|| corrupt(CF_INVOICE_INDEX, &k, "link without refund"))?);
        }
        Ok(out)
    }

    /// The refund a claim token (by its SHA-256) belongs to.
    pub(crate) fn claim(&self, token_sha256: &[u8; 32]) -> Result<Option<Uuid>, DbError> {
        let mut k = vec![tag::CLAIM];
        k.extend_from_slice(token_sha256);
        match self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? {
            Some(v) => Ok(Some(Uuid::from_slice(&v).map_err(|e| corrupt(CF_INVOICE_INDEX, &k, e))?)),
            None => Ok(None),
        }
    }
}
