"""Risk controls in the admin: trading states (the kill switch), the restricted list, limits.

The kill switch has its own pages (``kill_switch_view``): from an account, an instrument or the
trading-state list, one click opens a confirmation form (reason required, optionally cancel
every open order in the scope), the second click applies it through
``apps.risk.services.kill_switch_set``. They are custom views, not ``save_model``: the admin
wraps its own add/change views in a transaction, and the kill switch commits the state before
it cancels orders, one durable transaction each.

The add/change pages of trading states, restrictions and limits are the same doors: they save
through ``trading_state_set``, ``restricted_instrument_add`` / ``_remove`` and ``risk_limits_set``
(``apps.core.admin.ServiceAdmin``), and the compliance role decides who may write, as in the API
(``apps.accounts.permissions.has_role``).

URLs (stable; browser tests rely on them):

- ``/admin/risk/tradingstate/kill-switch/global/<state>/``
- ``/admin/risk/tradingstate/kill-switch/account/<account id>/<state>/``
- ``/admin/risk/tradingstate/kill-switch/instrument/<instrument id>/<state>/``

with ``<state>`` one of ``halted``, ``reducing``, ``active``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from apps.accounts.permissions import RoleAdminMixin, has_role
from apps.core.admin import ServiceAdmin, service_errors
from apps.core.errors import ApplicationError
from apps.risk.models import (
    FIRM_ONLY_LIMITS,
    LIMIT_FIELDS,
    ExposureSnapshot,
    RestrictedInstrument,
    RiskLimits,
    Scope,
    TradingState,
    TradingStateValue,
)
from apps.risk.services import (
    kill_switch_orders,
    kill_switch_set,
    restricted_instrument_add,
    restricted_instrument_remove,
    risk_limits_check,
    risk_limits_set,
    trading_state_set,
)
from apps.users.roles import COMPLIANCE

#: The action for each target state: the label of its link and of its submit button.
KILL_SWITCH_ACTIONS: dict[str, str] = {
    TradingStateValue.HALTED: "Halt trading",
    TradingStateValue.REDUCING: "Reduce only",
    TradingStateValue.ACTIVE: "Resume trading",
}


def can_use_kill_switch(user: Any) -> bool:
    """Compliance staff (and superusers): the role the API's trading-state endpoints ask for."""
    return bool(getattr(user, "is_staff", False) and has_role(user, COMPLIANCE))


def kill_switch_url(state: str, *, account_id: int | None = None, instrument_id: int | None = None) -> str:
    if account_id is not None:
        return reverse("admin:risk_tradingstate_kill_switch", args=(Scope.ACCOUNT, account_id, state))
    if instrument_id is not None:
        return reverse("admin:risk_tradingstate_kill_switch", args=(Scope.INSTRUMENT, instrument_id, state))
    return reverse("admin:risk_tradingstate_kill_switch_global", args=(state,))


def kill_switch_context(
    user: Any, *, account_id: int | None = None, instrument_id: int | None = None
) -> dict[str, Any]:
    """For a change page or list: the target's current state and, for those allowed, the links."""
    scope = Scope.ACCOUNT if account_id else Scope.INSTRUMENT if instrument_id else Scope.GLOBAL
    current = (
        TradingState.objects.select_related("updated_by")
        .filter(**{"scope": scope, "account_id": account_id, "instrument_id": instrument_id})
        .first()
    )
    links = []
    if can_use_kill_switch(user):
        links = [
            {
                "state": state,
                "label": label,
                "url": kill_switch_url(state, account_id=account_id, instrument_id=instrument_id),
            }
            for state, label in KILL_SWITCH_ACTIONS.items()
        ]
    return {"kill_switch_current": current, "kill_switch_links": links}


class KillSwitchForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. Recorded on the trading state and on every order it cancels.",
        error_messages={"required": "A reason is required."},
    )
    cancel_open_orders = forms.BooleanField(
        required=False, label="Cancel open orders", help_text="Also cancel every open order in this scope."
    )

    def __init__(self, *args: Any, state: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if state != TradingStateValue.HALTED:
            del self.fields["cancel_open_orders"]


class TradingStateForm(forms.ModelForm):
    """The plain add/change form: target fixed once created, a fresh reason for every change."""

    class Meta:
        model = TradingState
        fields = ("scope", "account", "instrument", "state", "reason")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "reason" in self.fields:
            self.fields["reason"].help_text = "Required: why the state is set (replaces the previous reason)."
            if self.instance.pk is not None:
                self.initial["reason"] = ""

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        scope = data.get("scope", self.instance.scope if self.instance.pk else None)
        account = data.get("account", self.instance.account if self.instance.pk else None)
        instrument = data.get("instrument", self.instance.instrument if self.instance.pk else None)
        if scope == Scope.GLOBAL and (account is not None or instrument is not None):
            raise forms.ValidationError("A global state has neither an account nor an instrument.")
        if scope == Scope.ACCOUNT and (account is None or instrument is not None):
            raise forms.ValidationError("An account state needs an account, and no instrument.")
        if scope == Scope.INSTRUMENT and (instrument is None or account is not None):
            raise forms.ValidationError("An instrument state needs an instrument, and no account.")
        return data


def _saved(obj: Any, row: Any) -> None:
    """The admin's object becomes the row the service wrote (its id for the history and redirect)."""
    obj.pk = row.pk
    obj._state.adding = False
    for f in row._meta.concrete_fields:
        setattr(obj, f.attname, getattr(row, f.attname))


@admin.register(TradingState)
class TradingStateAdmin(RoleAdminMixin, ServiceAdmin):
    form = TradingStateForm
    add_roles = change_roles = (COMPLIANCE,)  # never deleted: resume by setting it back to active
    change_list_template = "admin/risk/tradingstate/change_list.html"
    list_display = ("scope", "account", "instrument", "state", "reason", "updated_by", "updated_at")
    list_filter = ("scope", "state")
    list_select_related = ("account", "instrument", "updated_by")
    search_fields = ("account__number__exact", "instrument__symbol__exact")
    raw_id_fields = ("account", "instrument")
    readonly_fields = ("updated_by", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # the target of an existing state never changes
            return ("scope", "account", "instrument", "updated_by", "updated_at")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = trading_state_set(
            actor=request.user,  # type: ignore[arg-type]
            state=obj.state,
            reason=obj.reason,
            account=obj.account,
            instrument=obj.instrument,
        )
        _saved(obj, row)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**kill_switch_context(request.user), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "kill-switch/global/<str:state>/",
                view(self.kill_switch_view),
                {"scope": Scope.GLOBAL, "target_id": None},
                name="risk_tradingstate_kill_switch_global",
            ),
            path(
                "kill-switch/<str:scope>/<int:target_id>/<str:state>/",
                view(self.kill_switch_view),
                name="risk_tradingstate_kill_switch",
            ),
            *super().get_urls(),
        ]

    def kill_switch_view(self, request: HttpRequest, scope: str, target_id: int | None, state: str) -> HttpResponse:
        if not can_use_kill_switch(request.user):
            raise PermissionDenied
        if state not in KILL_SWITCH_ACTIONS:
            raise Http404("Unknown trading state.")
        from apps.accounts.models import TradingAccount
        from apps.instruments.models import Instrument

        account = instrument = None
        target: Model | None = None
        if scope == Scope.ACCOUNT:
            target = account = get_object_or_404(TradingAccount, pk=target_id)
            back = reverse("admin:accounts_tradingaccount_change", args=(account.pk,))
            target_label = f"account {account.number} ({account.name})"
        elif scope == Scope.INSTRUMENT:
            target = instrument = get_object_or_404(Instrument, pk=target_id)
            back = reverse("admin:instruments_instrument_change", args=(instrument.pk,))
            target_label = f"instrument {instrument.symbol}"
        elif scope == Scope.GLOBAL:
            back = reverse("admin:risk_tradingstate_changelist")
            target_label = "the whole firm (global)"
        else:
            raise Http404("Unknown scope.")

        label = KILL_SWITCH_ACTIONS[state]
        form = KillSwitchForm(request.POST or None, state=state)
        if request.method == "POST" and form.is_valid():
            try:
                result = kill_switch_set(
                    actor=request.user,  # type: ignore[arg-type]
                    state=state,
                    reason=form.cleaned_data["reason"],
                    account=account,
                    instrument=instrument,
                    cancel_open_orders=form.cleaned_data.get("cancel_open_orders", False),
                )
            except ApplicationError as exc:
                form.add_error(None, exc.detail)
            else:
                message = f"Trading state for {target_label} is now {result.state.get_state_display()}."
                if form.cleaned_data.get("cancel_open_orders"):
                    message += f" {len(result.canceled)} open order(s) canceled or sent for cancel"
                    if result.skipped:
                        message += f"; {len(result.skipped)} had already ended"
                    message += "."
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(back)
        current = (
            TradingState.objects.select_related("updated_by")
            .filter(scope=scope, account=account, instrument=instrument)
            .first()
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label}: {target_label}",
            "opts": self.model._meta,
            "form": form,
            "state": state,
            "action_label": label,
            "target": target,
            "target_label": target_label,
            "current": current,
            "open_orders": kill_switch_orders(account=account, instrument=instrument).count(),
            "back_url": back,
        }
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(request, "admin/risk/tradingstate/kill_switch.html", context, status=status)


class RestrictedInstrumentForm(forms.ModelForm):
    class Meta:
        model = RestrictedInstrument
        fields = ("instrument", "account", "reason")

    def clean_reason(self) -> str:
        reason = (self.cleaned_data.get("reason") or "").strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


@admin.register(RestrictedInstrument)
class RestrictedInstrumentAdmin(RoleAdminMixin, ServiceAdmin):
    """Add or lift restrictions; a restriction is never edited (lift it and add a new one)."""

    add_roles = delete_roles = (COMPLIANCE,)

    form = RestrictedInstrumentForm
    list_display = ("instrument", "account", "reason", "created_by", "created_at")
    list_select_related = ("instrument", "account", "created_by")
    readonly_fields = ("created_by", "created_at")
    search_fields = ("instrument__symbol__exact", "account__number__exact")
    raw_id_fields = ("instrument", "account")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = restricted_instrument_add(
            actor=request.user,  # type: ignore[arg-type]
            instrument=obj.instrument,
            reason=obj.reason,
            account=obj.account,
        )
        _saved(obj, row)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        restricted_instrument_remove(actor=request.user, restriction_id=obj.pk)  # type: ignore[arg-type]


class RiskLimitsForm(forms.ModelForm):
    class Meta:
        model = RiskLimits
        fields = ("account", *LIMIT_FIELDS)

    def clean(self) -> dict[str, Any]:
        """The service's own validation (``risk_limits_check``), a refusal on its field."""
        data: dict[str, Any] = super().clean() or {}
        account = data.get("account", self.instance.account if self.instance.pk else None)
        for name in FIRM_ONLY_LIMITS:  # each firm-only limit on its own field
            if account is not None and data.get(name) is not None:
                self.add_error(name, "A firm-wide limit: set it on the firm row (no account).")
        if not self.errors:
            limits = {name: data.get(name) for name in LIMIT_FIELDS}
            service_errors(self, lambda: data.update(risk_limits_check(account=account, **limits)))
        return data


@admin.register(RiskLimits)
class RiskLimitsAdmin(RoleAdminMixin, ServiceAdmin):
    form = RiskLimitsForm
    add_roles = change_roles = (COMPLIANCE,)  # never deleted: clearing a limit is done field by field
    list_display = (
        "account",
        "max_order_quantity",
        "max_order_notional",
        "max_open_orders",
        "max_orders_per_second",
        "price_collar_percent",
        "daily_loss_limit",
        "daily_loss_halt_limit",
        "max_concentration_percent",
        "max_gross_exposure",
        "updated_at",
    )
    list_select_related = ("account",)
    search_fields = ("account__number__exact",)
    raw_id_fields = ("account",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("account",) if obj is not None else ()  # a row's account never changes

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = risk_limits_set(
            actor=request.user,  # type: ignore[arg-type]
            account=obj.account,
            **{name: getattr(obj, name) for name in LIMIT_FIELDS},
        )
        _saved(obj, row)


@admin.register(ExposureSnapshot)
class ExposureSnapshotAdmin(admin.ModelAdmin):
    """The mark-to-market snapshots, read-only (the table is append-only)."""

    list_display = (
        "taken_at",
        "account",
        "currency",
        "cash",
        "market_value",
        "equity",
        "gross_exposure",
        "concentration_percent",
        "unrealized_pnl",
        "realized_pnl",
        "daily_pnl",
    )
    list_select_related = ("account",)
    list_filter = (("account", admin.EmptyFieldListFilter),)
    search_fields = ("account__number__exact",)
    date_hierarchy = "taken_at"
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
