# Written by hand (other engineers' models were pending in the same app): fraud ring snapshots.

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0008_ip_enrichment_and_curation"),
    ]

    operations = [
        migrations.CreateModel(
            name="RingSnapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("computed_at", models.DateTimeField(blank=True, db_index=True, null=True)),
                ("hub_degree", models.PositiveIntegerField()),
                (
                    "linked_accounts",
                    models.PositiveIntegerField(default=0, help_text="accounts in some ring"),
                ),
                ("ring_count", models.PositiveIntegerField(default=0)),
                (
                    "hub_ips",
                    models.PositiveIntegerField(default=0, help_text="IPs excluded as shared"),
                ),
                (
                    "hub_devices",
                    models.PositiveIntegerField(default=0, help_text="devices excluded as shared"),
                ),
                ("duration_ms", models.PositiveIntegerField(default=0)),
                ("requested_by_name", models.CharField(blank=True, max_length=150)),
            ],
            options={"ordering": ["-computed_at"]},
        ),
        migrations.CreateModel(
            name="Ring",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("size", models.PositiveIntegerField(help_text="member accounts")),
                (
                    "fraud_accounts",
                    models.PositiveIntegerField(help_text="members with a fraud label"),
                ),
                (
                    "open_case_accounts",
                    models.PositiveIntegerField(help_text="members with an open case"),
                ),
                (
                    "account_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=128), size=None
                    ),
                ),
                (
                    "shared_ips",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=45), default=list, size=None
                    ),
                ),
                (
                    "shared_devices",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=128), default=list, size=None
                    ),
                ),
                ("shared_ip_count", models.PositiveIntegerField(default=0)),
                ("shared_device_count", models.PositiveIntegerField(default=0)),
                (
                    "snapshot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rings",
                        to="cases.ringsnapshot",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        models.F("snapshot"),
                        models.OrderBy(models.F("fraud_accounts"), descending=True),
                        models.OrderBy(models.F("size"), descending=True),
                        name="ring_by_fraud_idx",
                    ),
                    models.Index(
                        models.F("snapshot"),
                        models.OrderBy(models.F("size"), descending=True),
                        models.OrderBy(models.F("fraud_accounts"), descending=True),
                        name="ring_by_size_idx",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="RingMember",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("account_id", models.CharField(db_index=True, max_length=128)),
                (
                    "ring",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="members",
                        to="cases.ring",
                    ),
                ),
            ],
        ),
    ]
