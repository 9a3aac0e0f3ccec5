"""Who may see which research projects and exports.

Staff see every project and export; a researcher sees the projects they are a member of and every
export of those projects (who asked, and its status, but a download link only for their own);
anyone else sees none.
"""

import datetime as dt

from django.db.models import QuerySet

from registry.roles import RESEARCHER, is_staff_member, user_roles
from research.models import ResearchExport, ResearchProject


def projects_visible_to(user) -> QuerySet[ResearchProject]:
    projects = ResearchProject.objects.all()
    if is_staff_member(user):
        return projects
    if RESEARCHER in user_roles(user):
        return projects.filter(members=user)
    return projects.none()


def exports_visible_to(user) -> QuerySet[ResearchExport]:
    exports = ResearchExport.objects.all()
    if is_staff_member(user):
        return exports
    if RESEARCHER in user_roles(user):
        return exports.filter(project__members=user)
    return exports.none()


def project_open_on(project: ResearchProject, day: dt.date) -> bool:
    """Whether the data-use agreement still covers `day` (it ends at the end of its last day)."""
    return day <= project.data_use_agreement_ends


def project_usable_by(project: ResearchProject, user) -> bool:
    """Whether a user may request exports of the project and download them: staff, or a researcher member."""
    if is_staff_member(user):
        return True
    return RESEARCHER in user_roles(user) and project.members.filter(pk=user.pk).exists()
