"""Sign-in pages and the API token endpoint, throttled against password guessing (see throttle.py)."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from rest_framework import exceptions
from rest_framework.authtoken.views import ObtainAuthToken

from .throttle import (
    LoginThrottledError,
    login_attempt_check,
    login_failure_record,
    login_success_record,
    request_client_address,
)


class ThrottledFormMixin:
    """An authentication form that asks the throttle first and reports every outcome to it."""

    throttled: LoginThrottledError | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = request_client_address(request=self.request)
        try:
            login_attempt_check(username=username, address=address)
        except LoginThrottledError as exc:
            self.throttled = exc
            raise ValidationError(exc.message, code="throttled") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(username=username, address=address)
            raise
        if self.get_user() is not None:
            login_success_record(username=username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledFormMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledFormMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.throttled.retry_after)
        return response


class TokenView(ObtainAuthToken):
    def post(self, request, *args, **kwargs):
        # A JSON body need not be an object; the serializer then refuses it like any bad form.
        username = str(request.data.get("username", "")) if hasattr(request.data, "get") else ""
        address = request_client_address(request=request)
        try:
            login_attempt_check(username=username, address=address)
        except LoginThrottledError as exc:
            raise exceptions.Throttled(wait=exc.retry_after, detail=exc.message) from None
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            login_failure_record(username=username, address=address)
            raise
        login_success_record(username=username)
        return response


obtain_auth_token = TokenView.as_view()
