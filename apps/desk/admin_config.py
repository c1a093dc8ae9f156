"""The admin app's configuration, with the back office's site (``apps.desk.sites``) as the
default site: listed in ``INSTALLED_APPS`` in place of ``django.contrib.admin`` (Django's way of
overriding the default admin site). Imports nothing of ours: it is loaded before the models."""

from django.contrib.admin.apps import AdminConfig


class BackOfficeAdminConfig(AdminConfig):
    default_site = "apps.desk.sites.BackOfficeAdminSite"
