"""Every change to who may do what reaches the audit trail, whatever page or code makes it.

Services write their own, richer events; the admin (and a shell, a data fix, a third-party
view) changes models directly. Like NetBox's ObjectChange, these receivers record those changes
in one place: users, groups, memberships and permissions, queues and their members, reason
codes, and two-factor devices, each with before and after. They decide nothing.

- Before is read from the database in pre_save / pre_delete, after from the database once
  saved, so a save with update_fields records what was really written.
- Only meaningful fields: timestamps and counters that move by themselves (last_login, a
  device's drift and throttling) are left out, and a save that changed nothing else records
  nothing. Secrets never appear: a password or device key records `password_changed` or
  `key_changed` instead.
- A change a service records itself (inside cases.audit.trail.model_changes_recorded_by_service())
  is skipped here, so each change is one event.
- The actor is the request's signed-in user, else the system user (tasks, commands).
- QuerySet.update() and bulk_create() send no signals: code that uses them on these models
  must record its own event.

Connected in CasesConfig.ready (connect_model_change_receivers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from cases.audit.trail import (
    audit_record,
    current_actor,
    model_changes_recorded_by_service,
    model_changes_recorded_elsewhere,
    system_actor,
)
from cases.models import AuditAction, Queue, ReasonCode, WebhookSubscription

_BEFORE = "_fraudcase_audit_before"
_M2M_BEFORE = "_fraudcase_audit_m2m_before"

# Fields that change on their own (sign-ins, token checks) or are bookkeeping.
_DEVICE_NOISE = frozenset({
    "last_t", "drift", "throttling_failure_timestamp", "throttling_failure_count",
    "created_at", "last_used_at", "last_generated_timestamp",
})  # fmt: skip


@dataclass(frozen=True)
class Tracked:
    """How one model's changes are recorded."""

    created: AuditAction
    changed: AuditAction
    deleted: AuditAction
    ignored: frozenset[str] = frozenset()
    # secret field -> the flag recorded (as true) when it changes; its value never is
    secrets: dict[str, str] = field(default_factory=dict)
    # many-to-many fields kept in the snapshot taken before a deletion (cascades send no
    # m2m_changed): name -> the lookups that spell one related object
    related: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _permission(prefix: str) -> tuple[str, ...]:
    return (f"{prefix}__content_type__app_label", f"{prefix}__codename")


def _tracked_models() -> dict[type, Tracked]:
    user_model = get_user_model()
    tracked = {
        user_model: Tracked(
            created=AuditAction.USER_CREATED,
            changed=AuditAction.USER_CHANGED,
            deleted=AuditAction.USER_DELETED,
            ignored=frozenset({"last_login", "date_joined"}),
            secrets={"password": "password_changed"},
            related={
                "groups": ("groups__name",),
                "user_permissions": _permission("user_permissions"),
                "queues": ("queues__name",),
            },
        ),
        Group: Tracked(
            created=AuditAction.GROUP_CHANGED,
            changed=AuditAction.GROUP_CHANGED,
            deleted=AuditAction.GROUP_DELETED,
            related={"permissions": _permission("permissions"), "users": ("user__username",)},
        ),
        Queue: Tracked(
            created=AuditAction.QUEUE_CHANGED,
            changed=AuditAction.QUEUE_CHANGED,
            deleted=AuditAction.QUEUE_DELETED,
            # round-robin bookkeeping, moved by every auto-assignment
            ignored=frozenset({"last_assignee", "created_at"}),
            related={"members": ("members__username",)},
        ),
        ReasonCode: Tracked(
            created=AuditAction.REASON_CODE_CHANGED,
            changed=AuditAction.REASON_CODE_CHANGED,
            deleted=AuditAction.REASON_CODE_DELETED,
        ),
        WebhookSubscription: Tracked(
            created=AuditAction.WEBHOOK_SUBSCRIPTION_CHANGED,
            changed=AuditAction.WEBHOOK_SUBSCRIPTION_CHANGED,
            deleted=AuditAction.WEBHOOK_SUBSCRIPTION_DELETED,
            ignored=frozenset({"created_at"}),
            secrets={"secret": "secret_changed"},
        ),
    }
    device_models = []
    if apps.is_installed("django_otp.plugins.otp_totp"):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device_models.append(TOTPDevice)
    if apps.is_installed("django_otp.plugins.otp_static"):
        from django_otp.plugins.otp_static.models import StaticDevice

        device_models.append(StaticDevice)
    for device_model in device_models:
        tracked[device_model] = Tracked(
            created=AuditAction.OTP_DEVICE_ADDED,
            changed=AuditAction.OTP_DEVICE_CHANGED,
            deleted=AuditAction.OTP_DEVICE_REMOVED,
            ignored=_DEVICE_NOISE,
            secrets={"key": "key_changed"},
        )
    return tracked


@dataclass(frozen=True)
class Relation:
    """A many-to-many field whose changes are recorded on its owner (the model declaring it)."""

    owner: type
    name: str
    lookups: tuple[str, ...]


def _tracked_relations() -> dict[type, Relation]:
    """Through model -> relation: m2m_changed is sent with the through model as sender."""
    user_model = get_user_model()
    relations = [
        Relation(user_model, "groups", ("groups__name",)),
        Relation(user_model, "user_permissions", _permission("user_permissions")),
        Relation(Group, "permissions", _permission("permissions")),
        Relation(Queue, "members", ("members__username",)),
    ]
    return {getattr(relation.owner, relation.name).through: relation for relation in relations}


TRACKED: dict[type, Tracked] = {}
RELATIONS: dict[type, Relation] = {}


def connect_model_change_receivers() -> None:
    TRACKED.update(_tracked_models())
    RELATIONS.update(_tracked_relations())
    for model in TRACKED:
        uid = f"cases.audit.model_changes.{model._meta.label_lower}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}.pre_save")
        post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}.post_save")
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=f"{uid}.pre_delete")
        post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}.post_delete")
    for through in RELATIONS:
        uid = f"cases.audit.model_changes.{through._meta.label_lower}"
        m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=uid)


def ensure_roles_recorded(**kwargs) -> None:
    """cases.accounts.roles.ensure_roles (after every migrate), recording as the system user each role
    group whose permissions it changed, such as a permission granted in the admin and taken
    back by the code. Creating the groups on a new install is not recorded: it is the install.
    """
    from cases.accounts.roles import ROLE_PERMISSIONS, ensure_roles

    lookups = _permission("permissions")
    existing = dict(Group.objects.filter(name__in=ROLE_PERMISSIONS).values_list("pk", "name"))
    before = _related_labels(Group, lookups, existing)
    with model_changes_recorded_by_service():
        ensure_roles(**kwargs)
    after = _related_labels(Group, lookups, existing)
    for pk, name in existing.items():
        if before[pk] != after[pk]:
            audit_record(
                actor=system_actor(),
                action=AuditAction.GROUP_CHANGED,
                obj=Group(pk=pk, name=name),
                before={"permissions": before[pk]},
                after={"permissions": after[pk]},
            )


# --- snapshots -----------------------------------------------------------------------------


def _snapshot(instance, spec: Tracked) -> tuple[dict, dict]:
    """(meaningful field values, secret field values) of a row as the database holds it."""
    values, secrets = {}, {}
    for model_field in instance._meta.concrete_fields:
        if model_field.primary_key or model_field.name in spec.ignored:
            continue
        value = model_field.value_from_object(instance)
        if model_field.name in spec.secrets:
            secrets[model_field.name] = value
        elif model_field.is_relation and value is not None:
            related = model_field.related_model._default_manager.filter(pk=value).first()
            values[model_field.name] = str(related) if related is not None else value
        else:
            values[model_field.name] = value
    return values, secrets


def _stored(instance):
    if instance.pk is None:
        return None
    return type(instance)._default_manager.filter(pk=instance.pk).first()


def _related_labels(model, lookups: tuple[str, ...], pks) -> dict:
    """owner pk -> sorted labels of its related objects (the lookups joined with dots)."""
    labels: dict = {pk: [] for pk in pks}
    rows = model._default_manager.filter(pk__in=list(pks)).values_list("pk", *lookups)
    for pk, *parts in rows:
        if parts[0] is not None:  # the outer join's row for an owner with none
            labels[pk].append(".".join(str(part) for part in parts))
    return {pk: sorted(found) for pk, found in labels.items()}


# --- saves and deletions -------------------------------------------------------------------


def _before_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    spec = TRACKED[sender]
    if update_fields is not None and set(update_fields) <= spec.ignored:
        instance.__dict__[_BEFORE] = "skip"  # e.g. last_login at each sign-in
        return
    if model_changes_recorded_elsewhere():
        return
    stored = _stored(instance)
    instance.__dict__[_BEFORE] = None if stored is None else _snapshot(stored, spec)


def _after_save(sender, instance, created=False, **kwargs) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if before == "skip" or model_changes_recorded_elsewhere():
        return
    spec = TRACKED[sender]
    after, after_secrets = _snapshot(_stored(instance) or instance, spec)
    if created or before is None:
        if "password" in spec.secrets:
            after["has_password"] = instance.has_usable_password()
        audit_record(actor=current_actor(), action=spec.created, obj=instance, after=after)
        return
    before_values, before_secrets = before
    changed = sorted(name for name in after if before_values.get(name) != after[name])
    old = {name: before_values.get(name) for name in changed}
    new = {name: after[name] for name in changed}
    for secret, flag in spec.secrets.items():
        if before_secrets.get(secret) != after_secrets.get(secret):
            new[flag] = True
    if not new:
        return
    audit_record(actor=current_actor(), action=spec.changed, obj=instance, before=old, after=new)


def _before_delete(sender, instance, **kwargs) -> None:
    if model_changes_recorded_elsewhere():
        return
    spec = TRACKED[sender]
    values, _ = _snapshot(instance, spec)
    for name, lookups in spec.related.items():
        values[name] = _related_labels(sender, lookups, [instance.pk])[instance.pk]
    # The repr too: the row is gone when post_delete records it.
    instance.__dict__[_BEFORE] = (values, str(instance), instance.pk)


def _after_delete(sender, instance, **kwargs) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if before is None or model_changes_recorded_elsewhere():
        return
    values, object_repr, pk = before
    audit_record(
        actor=current_actor(),
        action=TRACKED[sender].deleted,
        object_type=sender._meta.label_lower,
        object_id=pk,
        object_repr=object_repr,
        before=values,
    )


# --- many-to-many --------------------------------------------------------------------------


def _m2m_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """One event per owner whose list changed, with the whole list before and after.

    Forward (user.groups.add(group)) the owner is the instance; reverse
    (group.user_set.add(user)) the owners are the objects in pk_set. set() removes then adds,
    so a set() that does both records two events.
    """
    relation = RELATIONS[sender]
    phase, _, _ = action.partition("_")
    if phase == "pre":
        if model_changes_recorded_elsewhere():
            return
        if not reverse:
            owners = [instance.pk]
        elif pk_set is not None:
            owners = sorted(pk_set)
        else:  # reverse clear: every owner currently related to the instance
            owners = list(
                relation.owner._default_manager.filter(**{relation.name: instance.pk}).values_list(
                    "pk", flat=True
                )
            )
        labels = _related_labels(relation.owner, relation.lookups, owners)
        instance.__dict__.setdefault(_M2M_BEFORE, {})[sender] = labels
        return
    before = instance.__dict__.get(_M2M_BEFORE, {}).pop(sender, None)
    if before is None or model_changes_recorded_elsewhere():
        return
    after = _related_labels(relation.owner, relation.lookups, before)
    changed = [pk for pk in before if before[pk] != after[pk]]
    if not changed:
        return
    owners = (
        {instance.pk: instance} if not reverse else relation.owner._default_manager.in_bulk(changed)
    )
    actor = current_actor()
    for pk in changed:
        audit_record(
            actor=actor,
            action=TRACKED[relation.owner].changed,
            obj=owners[pk],
            before={relation.name: before[pk]},
            after={relation.name: after[pk]},
        )
