"""Everything under /api/ answers in the API's JSON error shape, even errors raised outside DRF.

DRF formats errors raised in its views. Others never reach it: a URL that matches no route (an
invalid UUID, an unknown path), a body over Django's upload limit read outside a parser, an
uncaught exception (500). Django answers those with HTML pages; an API client needs JSON.
"""

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.middleware.common import CommonMiddleware

from registry.api.errors import printable

API_PREFIX = "/api/"
# status: (code, message) for errors that Django, not DRF, answers.
DJANGO_ERRORS = {
    400: ("bad_request", "The request could not be read."),
    403: ("permission_denied", "Forbidden."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("server_error", "Server error. It has been logged for the registry team; please try again later."),
}
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def error_response(status: int, message: str = "") -> JsonResponse:
    code, default_message = DJANGO_ERRORS.get(status, ("error", "The request failed."))
    message = message or default_message
    return JsonResponse({"error": {"status": status, "code": code, "message": printable(message)}}, status=status)


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        message = ""
        if response.status_code == 404 and not request.path.endswith("/"):
            message = f"Not found. Paths under /api/ end with a slash: {request.path}/"
        replacement = error_response(response.status_code, message)
        for header in KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(self, request, exception):
        if request.path.startswith(API_PREFIX) and isinstance(exception, RequestDataTooBig):
            return error_response(413)
        return None  # Django logs it and answers 500; __call__ then turns that into JSON


class RegistryCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, without the trailing-slash redirect for API writes.

    A client follows a 301 with a GET and drops the body, so a POST to `/api/v1/patients` would
    silently do nothing; it gets a 404 that names the right path instead.
    """

    def should_redirect_with_slash(self, request):
        if request.path.startswith(API_PREFIX) and request.method not in ("GET", "HEAD"):
            return False
        return super().should_redirect_with_slash(request)
