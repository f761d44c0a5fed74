"""Mastodon API routes: accounts section (see urls.py for the rest).

Included before the main API routes. `api/v1/accounts` itself (registration) is not routed
here, and account ids are digits only, so named routes such as `verify_credentials` are never
taken for an id and unknown names fall through to the JSON 404.
"""

from ourvoice.api.mastodon.routing import api
from ourvoice.api.mastodon.views import accounts, relations

ID = r"(?P<id>\d+)"
ACCOUNT_ACTIONS = (
    "follow",
    "unfollow",
    "remove_from_followers",
    "block",
    "unblock",
    "mute",
    "unmute",
    "note",
)

urlpatterns = [
    # the signed-in account
    api(r"api/v1/accounts/verify_credentials", accounts.VerifyCredentials),
    api(r"api/v1/accounts/update_credentials", accounts.UpdateCredentials),
    api(r"api/v1/preferences", accounts.Preferences),
    # finding accounts
    api(r"api/v1/accounts/lookup", accounts.AccountLookup),
    api(r"api/v1/accounts/search", accounts.AccountSearch),
    api(r"api/v1/accounts/relationships", relations.Relationships),
    api(r"api/v1/accounts/familiar_followers", accounts.FamiliarFollowers),
    # one account
    api(rf"api/v1/accounts/{ID}", accounts.AccountDetail),
    api(rf"api/v1/accounts/{ID}/statuses", accounts.AccountStatuses),
    api(
        rf"api/v1/accounts/{ID}/followers",
        accounts.AccountFollows.as_view(direction="followers"),
    ),
    api(
        rf"api/v1/accounts/{ID}/following",
        accounts.AccountFollows.as_view(direction="following"),
    ),
    api(rf"api/v1/accounts/{ID}/lists", accounts.AccountLists),
    *[
        api(rf"api/v1/accounts/{ID}/{action}", relations.AccountAction.as_view(action=action))
        for action in ACCOUNT_ACTIONS
    ],
    # the viewer's lists of relations
    api(r"api/v1/follow_requests", relations.FollowRequests),
    api(
        rf"api/v1/follow_requests/{ID}/authorize",
        relations.FollowRequestAction.as_view(action="authorize"),
    ),
    api(
        rf"api/v1/follow_requests/{ID}/reject",
        relations.FollowRequestAction.as_view(action="reject"),
    ),
    api(r"api/v1/blocks", relations.Blocks),
    api(r"api/v1/mutes", relations.Mutes),
    api(r"api/v1/domain_blocks", relations.DomainBlocks),
    api(r"api/v1/favourites", relations.Favourites),
    api(r"api/v1/bookmarks", relations.Bookmarks),
    # features not built yet: empty answers, never 404 (clients call them at startup)
    api(r"api/v1/lists", accounts.Lists),
    api(rf"api/v1/lists/{ID}", accounts.ListDetail),
    api(r"api/v1/followed_tags", accounts.EmptyList.as_view(scope="read:follows")),
    api(r"api/v1/endorsements", accounts.EmptyList.as_view(scope="read:accounts")),
]
