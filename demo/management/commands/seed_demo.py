import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo.cohort import DEMO_PASSWORD, seed_demo_cohort
from demo.portal_patient import demo_patient_prepare
from patients.models import EnrollmentStatus, Patient, Site, StaffSiteScope
from registry import roles
from research.models import ResearchProject
from research.services import project_create

DEMO_PROJECT_TITLE = "Demo: time to loss of ambulation by genotype"
# demo.site-staff sees only this demo site's patients (docs/sites.md).
DEMO_SITE_STAFF_SITE = "tel-aviv"


class Command(BaseCommand):
    help = "Create a synthetic GNE myopathy cohort (invented people) for demos, tests and benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=200)
        parser.add_argument("--seed", type=int, default=2026, help="Same seed, same cohort.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when patients exist already.")
        parser.add_argument(
            "--demo-users",
            action="store_true",
            help="Also create demo.staff/site-staff/patient/researcher (DEBUG only).",
        )

    def handle(self, *args, patients, seed, if_empty, demo_users, **options):
        if patients < 1:
            raise CommandError("--patients must be at least 1.")
        if demo_users and not settings.DEBUG:
            raise CommandError("Demo users with a published password are only for DEBUG (local) settings.")
        if if_empty and Patient.objects.exists():
            self.stdout.write(f"{Patient.objects.count()} patients already present; demo cohort not added.")
        else:
            self.stdout.write(f"Creating {patients} synthetic patients...")
            seed_demo_cohort(patients=patients, seed=seed, progress=self._progress)
        if demo_users:
            self._demo_users()

    def _progress(self, done: int, total: int) -> None:
        self.stdout.write(f"  {done}/{total} patients ({100 * done // total}%)")

    def _demo_users(self):
        user_model = get_user_model()
        for username, role in (
            ("demo.staff", roles.STAFF),
            ("demo.site-staff", roles.STAFF),
            ("demo.patient", roles.PATIENT),
            ("demo.researcher", roles.RESEARCHER),
        ):
            user, created = user_model.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                # May open the admin: foundation-wide staff only, as it has no site filter.
                user.is_staff = username == "demo.staff"
                user.save()
            user.groups.add(Group.objects.get(name=role))
        self._demo_site_scope(user=user_model.objects.get(username="demo.site-staff"))
        self._demo_patient(account=user_model.objects.get(username="demo.patient"))
        self._demo_project(researcher=user_model.objects.get(username="demo.researcher"))

    def _demo_site_scope(self, *, user):
        """Limit demo.site-staff to one demo site, to show sites as data-access groups."""
        scope, created = StaffSiteScope.objects.get_or_create(user=user)
        if created:
            # Without the site (a cohort not made by this command) the scope sees no patient: never more.
            scope.sites.set(Site.objects.filter(code=DEMO_SITE_STAFF_SITE))

    def _demo_patient(self, *, account):
        """Link demo.patient to a record (an enrolled one if there is one) and make it ready for the
        portal: an email, active consent and a few recent self-reports (demo/portal_patient.py)."""
        patient = Patient.objects.filter(account=account).first()
        if patient is None:
            unclaimed = Patient.objects.filter(account__isnull=True).order_by("id")
            patient = unclaimed.filter(status=EnrollmentStatus.ENROLLED).first() or unclaimed.first()
            if patient is None:
                return
            patient.account = account
            patient.save(update_fields=["account"])
        done = demo_patient_prepare(patient=patient, account=account)
        if done:
            self.stdout.write(f"demo.patient's record is ready for the portal: {'; '.join(done)}.")

    def _demo_project(self, *, researcher):
        """A research project with the demo researcher as member, so an export can be tried at once."""
        if ResearchProject.objects.filter(title=DEMO_PROJECT_TITLE).exists():
            return
        project_create(
            data={
                "title": DEMO_PROJECT_TITLE,
                "approving_body": "Demo data-access committee (synthetic)",
                "approval_reference": "DEMO-2026-001",
                "data_use_agreement_ends": timezone.localdate() + dt.timedelta(days=365),
            },
            members=[researcher],
            created_by=None,
        )
