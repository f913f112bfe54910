"""Push notifications to users' devices (FCM), for users with no live socket."""
