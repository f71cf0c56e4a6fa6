-- The shop's payments and refunds move into the payment flow's tables (0005), owned by
-- system 'shop' through the order id; the shop's own tables go. Every shop trade so far was a
-- WeChat Pay JSAPI prepay.

INSERT INTO pay_trades (system_name, owner_id, provider, out_trade_no, amount_fen, status, prepay_kind, prepay_handle, prepay_expires_at, transaction_id, payer, late, succeeded_at, created_at, updated_at)
SELECT 'shop', order_id, 'wechat', out_trade_no, amount_fen, status, 'jsapi', prepay_id, prepay_expires_at, transaction_id, payer_openid, late, succeeded_at, created_at, updated_at
FROM payments ORDER BY id;

INSERT INTO pay_refunds (trade_id, system_name, owner_id, out_refund_no, refund_id, amount_fen, reason, status, owner_note, requested_by, last_error, created_at, updated_at, settled_at)
SELECT t.id, 'shop', r.order_id, r.out_refund_no, r.refund_id, r.amount_fen, r.reason, r.status, r.prev_order_status, r.requested_by, r.last_error, r.created_at, r.updated_at, r.settled_at
FROM refunds r JOIN pay_trades t ON t.system_name = 'shop' AND t.owner_id = r.order_id ORDER BY r.id;

DROP TABLE refunds;
DROP TABLE payments;
