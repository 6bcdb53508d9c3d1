"""The admin site as the pages see it: sign-ins throttled like the login page."""

from django.contrib import admin

from .login import ThrottledAdminAuthenticationForm

admin.site.login_form = ThrottledAdminAuthenticationForm
