from django.urls import path

from research import views

app_name = "research"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("exports/", views.export_list, name="export-list"),
]
