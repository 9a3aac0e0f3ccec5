"""Nothing the application answers is kept in a browser's or a proxy's cache.

Pages and API responses carry identifiable health data (a patient's record, a staff member's search
results), and a cached copy outlives the session: the next person at a shared computer could open
it from the history or the back button. Rather than judge each response, everything the application
itself answers is marked `no-store`, which costs little: the pages are small and personal, and the
static files, the only thing worth caching, are answered before this (WhiteNoise, with their own
long-lived caching of hashed names) or under STATIC_URL, which is left alone.
"""

from django.conf import settings
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """`Cache-Control: no-store` and, for HTTP/1.0 caches, `Pragma: no-cache` (first in MIDDLEWARE)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(settings.STATIC_URL):
            # Added to what a view set (never_cache's max-age=0, for one), which no-store overrides.
            patch_cache_control(response, no_store=True)
            response["Pragma"] = "no-cache"
        return response
