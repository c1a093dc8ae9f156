"""Ledger tables. See docs/ledger.md for the chart of accounts and the sign convention."""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.chain import hex_sha256_check
from apps.ledger.fields import AmountField


class AssetKind(models.TextChoices):
    CURRENCY = "currency", "Currency (ISO 4217)"
    INSTRUMENT = "instrument", "Instrument"


class Asset(models.Model):
    """What a ledger account holds: a currency or an instrument's units."""

    code = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=16, choices=AssetKind.choices)
    name = models.CharField(max_length=128, blank=True)
    scale = models.PositiveSmallIntegerField(help_text="Decimal places an amount of this asset may have (0..8).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_asset"
        ordering = ("code",)
        constraints = [
            models.CheckConstraint(condition=Q(scale__lte=8), name="ledger_asset_scale_max_8"),
            models.CheckConstraint(
                condition=~Q(kind="currency") | Q(code__regex=r"^[A-Z]{3}$"), name="ledger_asset_currency_iso_code"
            ),
        ]
        triggers = [
            # Amounts were validated against the scale: it may never change, nor may the code.
            pgtrigger.Protect(
                name="asset_identity_immutable",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange("code", "kind", "scale"),
            ),
            pgtrigger.Protect(name="asset_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return self.code


class Purpose(models.TextChoices):
    # A client's accounts (owned by a trading account)
    CASH_AVAILABLE = "cash_available", "Cash available"
    CASH_RESERVED = "cash_reserved", "Cash reserved for open orders"
    POSITION_AVAILABLE = "position_available", "Position available"
    POSITION_RESERVED = "position_reserved", "Position reserved for open sell orders"
    # The house's accounts (no trading account)
    STREET = "street", "Street (clearing counterparty)"
    FEE_INCOME = "fee_income", "Fee income"
    DEPOSIT_CLEARING = "deposit_clearing", "Deposit clearing"
    WITHDRAWAL_CLEARING = "withdrawal_clearing", "Withdrawal clearing"


CLIENT_PURPOSES = frozenset(
    {Purpose.CASH_AVAILABLE, Purpose.CASH_RESERVED, Purpose.POSITION_AVAILABLE, Purpose.POSITION_RESERVED}
)
HOUSE_PURPOSES = frozenset(set(Purpose) - CLIENT_PURPOSES)
RESERVED_FOR = {Purpose.CASH_AVAILABLE: Purpose.CASH_RESERVED, Purpose.POSITION_AVAILABLE: Purpose.POSITION_RESERVED}
#: Only hold services move value in or out of these: their balance is the sum of active holds.
RESERVED_PURPOSES = frozenset(RESERVED_FOR.values())


class LedgerAccount(models.Model):
    """One asset held for one purpose by one owner (a trading account, or the house when empty).

    ``balance`` and ``version`` are the stored balance: updated in the same database
    transaction as the entries, under ``SELECT ... FOR NO KEY UPDATE``.
    """

    trading_account = models.ForeignKey(
        "accounts.TradingAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="ledger_accounts")
    balance = AmountField(default=Decimal(0))
    version = models.BigIntegerField(default=0, help_text="Number of entries posted to this account.")
    allow_negative = models.BooleanField(
        default=False, help_text="House accounts facing the outside world may go negative; client accounts never."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_ledgeraccount"
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("trading_account", "purpose", "asset"),
                name="ledger_account_unique_owner_purpose_asset",
                nulls_distinct=False,
            ),
            # Target of the composite foreign key that ties each entry's asset to its account's.
            models.UniqueConstraint(fields=("id", "asset"), name="ledger_account_id_asset"),
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="ledger_account_no_negative_balance"
            ),
            models.CheckConstraint(
                condition=Q(trading_account__isnull=True) | Q(allow_negative=False),
                name="ledger_account_client_never_negative",
            ),
            models.CheckConstraint(
                condition=(Q(trading_account__isnull=False) & Q(purpose__in=sorted(CLIENT_PURPOSES)))
                | (Q(trading_account__isnull=True) & Q(purpose__in=sorted(HOUSE_PURPOSES))),
                name="ledger_account_purpose_matches_owner",
            ),
            models.CheckConstraint(condition=Q(version__gte=0), name="ledger_account_version_non_negative"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="ledger_account_identity_immutable",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange("trading_account", "purpose", "asset", "allow_negative"),
            ),
            pgtrigger.Protect(name="ledger_account_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        owner = f"acct {self.trading_account_id}" if self.trading_account_id else "house"
        return f"{owner}:{self.purpose}:{self.asset_id}"


class TransactionKind(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    TRANSFER = "transfer", "Transfer"
    HOLD = "hold", "Hold"
    RELEASE = "release", "Hold release"
    CAPTURE = "capture", "Hold capture"
    FILL = "fill", "Fill"
    FEE = "fee", "Fee"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"


NOT_REVERSIBLE_KINDS = frozenset(
    {TransactionKind.HOLD, TransactionKind.RELEASE, TransactionKind.CAPTURE, TransactionKind.REVERSAL}
)

_APPEND_ONLY = [
    pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
    pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
]


class JournalTransaction(models.Model):
    """A balanced set of entries: per asset, its entries sum to zero. Never updated or deleted."""

    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    # Unique through the Meta constraint (same name as Django's own): a unique field would also get a
    # ``varchar_pattern_ops`` index for LIKE queries, which nothing runs, paid on every posting.
    idempotency_key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical legs, for idempotent retries.")
    reference = models.CharField(max_length=128, blank=True)  # indexed in Meta: exact lookups only
    memo = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    correlation_id = models.CharField(max_length=64, blank=True)
    posted_at = models.DateTimeField()
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="The transaction this one reverses (each is reversed at most once).",
    )
    hold = models.ForeignKey("Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")

    #: Not stored: True when a service returned this transaction for an idempotent retry.
    replayed: bool = False

    class Meta:
        db_table = "ledger_journaltransaction"
        ordering = ("id",)
        indexes = [
            models.Index(fields=("posted_at",), name="ledger_txn_posted_at"),
            models.Index(fields=("reference",), name="ledger_txn_reference"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=TransactionKind.values), name="ledger_txn_kind_valid"),
            models.UniqueConstraint(fields=("idempotency_key",), name="ledger_journaltransaction_idempotency_key_key"),
        ]
        triggers = [
            *_APPEND_ONLY,
            pgtrigger.Trigger(
                name="transaction_has_entries",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func="""
                IF (SELECT count(*) FROM ledger_journalentry WHERE transaction_id = NEW.id) < 2 THEN
                    RAISE EXCEPTION 'journal transaction % has fewer than two entries', NEW.id
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"transaction {self.pk} {self.kind}"


class JournalEntry(models.Model):
    """One signed movement of one asset on one ledger account. Never updated or deleted.

    ``account_version`` and ``balance_after`` are assigned under the account's row lock, so a
    statement is a range scan and a past balance is one row.
    """

    transaction = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="entries")
    # No single-column indexes: (ledger_account, account_version) leads with the account, and
    # assets are never deleted; every index is paid on each of the ledger's inserts.
    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+", db_index=False)
    amount = AmountField()
    account_version = models.BigIntegerField()
    balance_after = AmountField()
    posted_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_journalentry"
        ordering = ("id",)
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=("ledger_account", "account_version"), name="ledger_entry_account_version"),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_non_zero"),
            models.CheckConstraint(condition=Q(account_version__gte=1), name="ledger_entry_version_positive"),
        ]
        indexes = [
            models.Index(fields=("ledger_account", "posted_at"), name="ledger_entry_account_posted"),
        ]
        triggers = [
            *_APPEND_ONLY,
            pgtrigger.Trigger(
                name="transaction_balanced_per_asset",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func="""
                IF EXISTS (
                    SELECT 1 FROM ledger_journalentry WHERE transaction_id = NEW.transaction_id
                    GROUP BY asset_id HAVING sum(amount) <> 0
                ) THEN
                    RAISE EXCEPTION 'journal transaction % is unbalanced', NEW.transaction_id
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ledger_account_id} v{self.account_version} {self.amount:+f}"


class JournalSequence(models.Model):
    """The ledger's gap-free order and hash chain: each committed transaction gets the next
    number, the SHA-256 of its canonical content, and the chain hash linking it to the previous
    number (``apps/ledger/chain.py``).

    Assigned after commit by the one sequencer (``sequencing.py``), in batches, so that no
    posting waits on a counter row or on the chain. Append-only.
    """

    sequence = models.BigIntegerField(primary_key=True)
    transaction = models.OneToOneField(JournalTransaction, on_delete=models.PROTECT, related_name="numbering")
    assigned_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the transaction's canonical content.")
    chain_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the hash version, this number, the previous chain hash and content hash."
    )
    hash_version = models.PositiveSmallIntegerField(help_text="Version of the canonical form and chain rule.")

    class Meta:
        db_table = "ledger_journalsequence"
        ordering = ("sequence",)
        constraints = [
            models.CheckConstraint(condition=Q(sequence__gte=1), name="ledger_sequence_positive"),
            models.CheckConstraint(
                condition=hex_sha256_check("content_hash", "chain_hash"),
                name="ledger_sequence_hashes_hex",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} -> transaction {self.transaction_id}"


class UnsequencedTransaction(models.Model):
    """Transactions committed but not yet numbered: written by each posting, consumed by the
    sequencer."""

    transaction = models.OneToOneField(JournalTransaction, primary_key=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "ledger_unsequenced"

    def __str__(self) -> str:
        return f"transaction {self.transaction_id} awaiting its number"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    CAPTURED = "captured", "Captured"
    CLOSED = "closed", "Closed (partly captured, partly released)"


class Hold(models.Model):
    """Value moved from an available account to its reserved sibling, pending capture or release.

    ``remaining`` is what is still reserved; the reserved account's balance is the sum of
    its active holds' ``remaining`` (``verify_ledger`` checks it).
    """

    available_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="+")
    reserved_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="holds")
    amount = AmountField()
    remaining = AmountField()
    captured = AmountField(default=Decimal(0))
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.ACTIVE)
    reference = models.CharField(max_length=128, blank=True, db_index=True)
    reserve_transaction = models.OneToOneField(JournalTransaction, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_hold"
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_hold_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=HoldStatus.values), name="ledger_hold_status_valid"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0)
                & Q(captured__gte=0)
                & Q(remaining__lte=models.F("amount") - models.F("captured")),
                name="ledger_hold_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status="active", remaining__gt=0) | (~Q(status="active") & Q(remaining=0)),
                name="ledger_hold_status_matches_remaining",
            ),
        ]
        indexes = [
            models.Index(fields=("reserved_account",), condition=Q(status="active"), name="ledger_hold_active"),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} {self.remaining}/{self.amount} {self.status}"
