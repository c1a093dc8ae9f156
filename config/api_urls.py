"""The v1 REST API: every path under /api/v1/."""

from django.urls import path

from apps.accounts.api import views as accounts
from apps.instruments.api import views as instruments
from apps.orders.api import batch as order_batch
from apps.orders.api import views as orders
from apps.reports.api import views as reports
from apps.risk.api import views as risk
from apps.users.api import views as auth

app_name = "api"

urlpatterns = [
    path("auth/token/", auth.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh/", auth.TokenRenewView.as_view(), name="token-refresh"),
    path("accounts/", accounts.AccountListView.as_view(), name="account-list"),
    path("accounts/<str:account_id>/", accounts.AccountDetailView.as_view(), name="account-detail"),
    path("accounts/<str:account_id>/balances/", accounts.BalanceListView.as_view(), name="account-balances"),
    path("accounts/<str:account_id>/positions/", accounts.PositionListView.as_view(), name="account-positions"),
    path("accounts/<str:account_id>/ledger/", accounts.LedgerView.as_view(), name="account-ledger"),
    path("accounts/<str:account_id>/deposits/", accounts.DepositView.as_view(), name="account-deposits"),
    path("accounts/<str:account_id>/withdrawals/", accounts.WithdrawalView.as_view(), name="account-withdrawals"),
    path("accounts/<str:account_id>/grants/", accounts.GrantListView.as_view(), name="account-grants"),
    path(
        "accounts/<str:account_id>/grants/<str:username>/",
        accounts.GrantDetailView.as_view(),
        name="account-grant-detail",
    ),
    path(
        "accounts/<str:account_id>/trading-state/",
        accounts.AccountTradingStateView.as_view(),
        name="account-trading-state",
    ),
    path("controls/trading-state/", risk.GlobalTradingStateView.as_view(), name="trading-state"),
    path("instruments/", instruments.InstrumentListView.as_view(), name="instrument-list"),
    path("instruments/<str:symbol>/", instruments.InstrumentDetailView.as_view(), name="instrument-detail"),
    path("instruments/<str:symbol>/prices/", instruments.PriceView.as_view(), name="instrument-prices"),
    path("restricted-instruments/", risk.RestrictionListView.as_view(), name="restriction-list"),
    path(
        "restricted-instruments/<str:restriction_id>/", risk.RestrictionDetailView.as_view(), name="restriction-detail"
    ),
    path("orders/", orders.OrderListView.as_view(), name="order-list"),
    path("orders/batch/", order_batch.OrderBatchView.as_view(), name="order-batch"),
    path("orders/<str:order_id>/", orders.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:order_id>/events/", orders.OrderEventListView.as_view(), name="order-events"),
    path("fills/", orders.FillListView.as_view(), name="fill-list"),
    path("reports/", reports.ReportRunListView.as_view(), name="report-list"),
    path("reports/<str:report_id>/download/", reports.ReportDownloadView.as_view(), name="report-download"),
]
