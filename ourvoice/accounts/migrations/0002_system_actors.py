"""Bootstrap: `migrate` alone creates the instance actor and the moderation actor.

Uses the historical models (not the services) so that later model changes cannot break it.
"""

from django.conf import settings
from django.db import migrations

from ourvoice.core import urls
from ourvoice.core.ids import snowflake_id
from ourvoice.core.keys import rsa_keypair_generate


def create_system_actors(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    if not Account.objects.filter(domain="", role="instance").exists():
        private_pem, public_pem = rsa_keypair_generate()
        actor = urls.instance_actor_uri()
        Account.objects.create(
            id=snowflake_id(),
            username=settings.OURVOICE_DOMAIN,
            kind="Application",
            role="instance",
            locked=True,
            bot=True,
            discoverable=False,
            uri=actor,
            url=urls.absolute_url("/about"),
            inbox_uri=f"{actor}/inbox",
            shared_inbox_uri=urls.shared_inbox_uri(),
            outbox_uri=f"{actor}/outbox",
            key_id=f"{actor}#main-key",
            public_key_pem=public_pem,
            private_key_pem=private_pem,
        )
    if not Account.objects.filter(domain="", role="moderation").exists():
        private_pem, public_pem = rsa_keypair_generate()
        actor = urls.actor_uri("moderation")
        Account.objects.create(
            id=snowflake_id(),
            username="moderation",
            kind="Service",
            role="moderation",
            locked=True,
            bot=True,
            discoverable=False,
            display_name="Community moderation",
            note="<p>Announces the outcome of community moderation votes on this server.</p>",
            uri=actor,
            url=urls.profile_url("moderation"),
            inbox_uri=f"{actor}/inbox",
            shared_inbox_uri=urls.shared_inbox_uri(),
            outbox_uri=f"{actor}/outbox",
            followers_uri=f"{actor}/followers",
            following_uri=f"{actor}/following",
            featured_uri=f"{actor}/collections/featured",
            key_id=f"{actor}#main-key",
            public_key_pem=public_pem,
            private_key_pem=private_pem,
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_system_actors, migrations.RunPython.noop)]
