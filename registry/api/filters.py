from django_filters.rest_framework import DjangoFilterBackend


class RegistryFilterBackend(DjangoFilterBackend):
    """django-filter, skipped when a request names none of the view's filters.

    Building a FilterSet copies every filter and validates a form; most list requests (page after
    page of a list) filter nothing, and should not pay for it.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None and not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
