from django import forms

from controlroom.accounts import TOKEN_NAME_MAX


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=TOKEN_NAME_MAX,
        label="Name",
        help_text="What the token is for (a script, a CI job), so you know which one to revoke.",
    )
