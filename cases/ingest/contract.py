"""The S3 input contract for flagged transactions (see docs/contract.md)."""

CONTRACT_COLUMNS = (
    "transaction_id",
    "account_id",
    "occurred_at",
    "amount",
    "currency",
    "merchant",
    "merchant_category",
    "channel",
    "country",
    "source_ip",
    "device_id",
    "similarity_score",
    "model_version",
    "outcome",
    "embedding",
    "features",
)
REQUIRED_COLUMNS = (
    "transaction_id",
    "account_id",
    "occurred_at",
    "amount",
    "currency",
    "similarity_score",
    "model_version",
)
OUTCOMES = ("approve", "investigate", "block")

MAX_LENGTHS = {
    "transaction_id": 128,
    "account_id": 128,
    "merchant": 255,
    "channel": 32,
    "device_id": 128,
    "model_version": 64,
}
# Amounts are numeric(18, 2).
MAX_AMOUNT_EXCLUSIVE = 10**16
MAX_FEATURES = 512
