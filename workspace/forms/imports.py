"""The upload form of the import page (docs/import.md). It checks the file's size only; reading the
file and every rule are the import service's (`workspace.imports.spreadsheet_import`)."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Spreadsheet saved as CSV"),
        help_text=_(
            "UTF-8 text, one line per visit, the first line naming the columns (listed below this form); "
            "comma, semicolon or tab separated."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.REGISTRY_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s; the import accepts files up to %(limit)s. Split it into smaller files.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        return upload
