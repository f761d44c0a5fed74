"""Federation routes: discovery, actors, objects, collections and public pages (included from
ourvoice/urls.py). Every path here is a local id built by ourvoice.core.urls."""

from django.urls import path, re_path

from federation.views import actors, collections, objects, pages, wellknown

USER = r"(?P<username>[A-Za-z0-9_]+)"
POST = rf"users/{USER}/statuses/(?P<post_id>[0-9]+)"

urlpatterns = [
    # discovery
    path(".well-known/webfinger", wellknown.webfinger, name="webfinger"),
    path(".well-known/host-meta", wellknown.host_meta, name="host-meta"),
    path(".well-known/host-meta.json", wellknown.host_meta_json, name="host-meta-json"),
    path(".well-known/nodeinfo", wellknown.nodeinfo_index, name="nodeinfo"),
    path("nodeinfo/2.0", wellknown.nodeinfo_20, name="nodeinfo-2.0"),
    path("nodeinfo/2.1", wellknown.nodeinfo_21, name="nodeinfo-2.1"),
    # the instance actor
    path("actor", actors.instance_actor, name="instance-actor"),
    path("actor/outbox", collections.instance_outbox, name="instance-actor-outbox"),
    # local actors and their collections
    re_path(rf"^users/{USER}$", actors.actor, name="actor"),
    re_path(rf"^users/{USER}/outbox$", collections.outbox, name="actor-outbox"),
    re_path(rf"^users/{USER}/followers$", collections.followers, name="actor-followers"),
    re_path(rf"^users/{USER}/following$", collections.following, name="actor-following"),
    re_path(rf"^users/{USER}/collections/featured$", collections.featured, name="actor-featured"),
    # posts and their collections
    re_path(rf"^{POST}$", objects.note, name="note"),
    re_path(rf"^{POST}/activity$", objects.note_activity, name="note-activity"),
    re_path(rf"^{POST}/replies$", collections.replies, name="note-replies"),
    re_path(rf"^{POST}/likes$", collections.likes, name="note-likes"),
    re_path(rf"^{POST}/shares$", collections.shares, name="note-shares"),
    # stored activities of local actors (ourvoice.core.urls.activity_uri)
    re_path(
        rf"^users/{USER}/(?P<kind>follows|likes|reposts|blocks)/(?P<object_id>[0-9]+)"
        r"(?P<undo>/undo)?$",
        objects.activity,
        name="activity",
    ),
    # HTML pages (content-negotiated like the ids they stand for)
    re_path(rf"^@{USER}$", actors.actor, name="profile"),
    re_path(rf"^@{USER}/(?P<post_id>[0-9]+)$", objects.note, name="post-page"),
    path("tags/<str:name>", pages.tag, name="tag"),
    path("about", pages.about, name="about"),
    path("authorize_interaction", pages.authorize_interaction, name="authorize-interaction"),
]
