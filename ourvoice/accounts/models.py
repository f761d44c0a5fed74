"""Users (local logins) and accounts (ActivityPub actors, local or remote) and their relations."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from ourvoice.core.fields import SnowflakeIdField


class User(AbstractUser):
    """A local login. Its public face is the `Account` linked through `account`."""

    class Approval(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    email = models.EmailField(unique=True)
    approval = models.CharField(max_length=16, choices=Approval.choices, default=Approval.APPROVED)
    #: Free text the applicant gave when registration needs approval.
    signup_reason = models.TextField(blank=True, default="")
    locale = models.CharField(max_length=16, blank=True, default="")

    ### Posting defaults (Mastodon `source[privacy|sensitive|language]`) ###
    default_privacy = models.CharField(
        max_length=16,
        choices=[("public", "Public"), ("unlisted", "Unlisted"), ("private", "Followers only")],
        default="public",
    )
    default_sensitive = models.BooleanField(default=False)
    default_language = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username


class AccountQuerySet(models.QuerySet["Account"]):
    def local(self) -> AccountQuerySet:
        return self.filter(domain="")

    def remote(self) -> AccountQuerySet:
        return self.exclude(domain="")

    def active(self) -> AccountQuerySet:
        return self.filter(suspended_at__isnull=True)


class Account(models.Model):
    """An ActivityPub actor. Local accounts have `domain == ""` and a private key."""

    class Kind(models.TextChoices):
        PERSON = "Person", "Person"
        SERVICE = "Service", "Service"
        APPLICATION = "Application", "Application"
        GROUP = "Group", "Group"
        ORGANIZATION = "Organization", "Organization"

    class Role(models.TextChoices):
        USER = "user", "User"
        INSTANCE = "instance", "Instance actor"
        MODERATION = "moderation", "Moderation actor"

    id = SnowflakeIdField()
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="account"
    )
    username = models.CharField(max_length=255)
    #: host[:port] of a remote actor, normalised; "" for local accounts.
    domain = models.CharField(max_length=255, blank=True, default="", db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSON)
    #: System role of a local account (the instance and moderation actors are not people).
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    display_name = models.CharField(max_length=255, blank=True, default="")
    #: Sanitised HTML bio.
    note = models.TextField(blank=True, default="")
    #: Plain-text source of the bio (local accounts).
    note_source = models.TextField(blank=True, default="")
    fields = models.JSONField(default=list, blank=True)
    avatar_url = models.URLField(max_length=2048, blank=True, default="")
    header_url = models.URLField(max_length=2048, blank=True, default="")

    ### ActivityPub ###
    uri = models.URLField(max_length=2048, unique=True)
    url = models.URLField(max_length=2048, blank=True, default="")
    inbox_uri = models.URLField(max_length=2048, blank=True, default="")
    shared_inbox_uri = models.URLField(max_length=2048, blank=True, default="")
    outbox_uri = models.URLField(max_length=2048, blank=True, default="")
    followers_uri = models.URLField(max_length=2048, blank=True, default="")
    following_uri = models.URLField(max_length=2048, blank=True, default="")
    featured_uri = models.URLField(max_length=2048, blank=True, default="")
    key_id = models.URLField(max_length=2048, blank=True, default="")
    public_key_pem = models.TextField(blank=True, default="")
    #: Only local accounts hold a private key.
    private_key_pem = models.TextField(blank=True, default="")

    ### Flags ###
    locked = models.BooleanField(default=False)
    bot = models.BooleanField(default=False)
    discoverable = models.BooleanField(default=True)
    indexable = models.BooleanField(default=False)
    suspended_at = models.DateTimeField(null=True, blank=True)
    silenced_at = models.DateTimeField(null=True, blank=True)

    ### Counters (kept exact with F() updates by the services) ###
    followers_count = models.PositiveIntegerField(default=0)
    following_count = models.PositiveIntegerField(default=0)
    statuses_count = models.PositiveIntegerField(default=0)
    last_status_at = models.DateTimeField(null=True, blank=True)

    ### Times ###
    #: When the actor says it was created (remote) or when it was created here (local).
    created_at = models.DateTimeField(default=timezone.now)
    #: When this server first saw the actor; moderation ages voters from here.
    first_seen_at = models.DateTimeField(default=timezone.now)
    #: Last successful fetch of a remote actor document.
    fetched_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AccountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), "domain", name="account_username_domain"),
        ]

    def __str__(self) -> str:
        return self.acct

    @property
    def local(self) -> bool:
        return self.domain == ""

    @property
    def acct(self) -> str:
        return self.username if self.local else f"{self.username}@{self.domain}"

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def is_silenced(self) -> bool:
        return self.silenced_at is not None

    @property
    def preferred_inbox(self) -> str:
        return self.shared_inbox_uri or self.inbox_uri


class Follow(models.Model):
    """`follower` follows `target`; pending until the target (or its server) accepts."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"

    id = SnowflakeIdField()
    follower = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="following_set")
    target = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="followers_set")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    #: Id of the Follow activity (ours for local followers, theirs for remote ones).
    uri = models.URLField(max_length=2048, blank=True, default="")
    show_reblogs = models.BooleanField(default=True)
    notify = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "target"], name="follow_once"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("target")), name="follow_not_self"
            ),
        ]
        indexes = [models.Index(fields=["target", "state"], name="follow_target_state")]

    def __str__(self) -> str:
        return f"{self.follower} → {self.target} ({self.state})"


class Block(models.Model):
    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="blocks")
    target = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="blocked_by")
    uri = models.URLField(max_length=2048, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "target"], name="block_once"),
            models.CheckConstraint(
                condition=~models.Q(account=models.F("target")), name="block_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} blocks {self.target}"


class Mute(models.Model):
    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="mutes")
    target = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="muted_by")
    #: Also hide notifications from the muted account.
    notifications = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "target"], name="mute_once"),
            models.CheckConstraint(
                condition=~models.Q(account=models.F("target")), name="mute_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} mutes {self.target}"


class AccountDomainBlock(models.Model):
    """A user's own block of a whole remote domain (Mastodon `/api/v1/domain_blocks`)."""

    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domain_blocks")
    domain = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "domain"], name="account_domain_block_once")
        ]

    def __str__(self) -> str:
        return f"{self.account} blocks {self.domain}"
