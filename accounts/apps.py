from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from rest_framework.authtoken.models import Token

        post_delete.connect(_token_deleted, sender=Token, dispatch_uid="nuvio-token-deleted")
        post_save.connect(
            _user_saved, sender=self.get_model("User"), dispatch_uid="nuvio-user-saved"
        )


def _token_deleted(sender, instance, **kwargs):
    from nuvio.authentication import forget_tokens

    forget_tokens(instance.key)


def _user_saved(sender, instance, created, **kwargs):
    # A deactivated or changed user must not live on in the token cache.
    if created:
        return
    from rest_framework.authtoken.models import Token

    from nuvio.authentication import forget_tokens

    forget_tokens(*Token.objects.filter(user=instance).values_list("key", flat=True))
