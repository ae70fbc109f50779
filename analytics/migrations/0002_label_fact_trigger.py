"""Keep analytics_labelfact equal to the labelled transactions, whatever changes a label.

A row trigger on cases_transaction: after an insert of a labelled row, or an update that
changes the label, who or when, the analyst's decision or the case, the transaction's fact is
written again (or removed when it has no label any more). The neighbour verdict's share comes
from the newest effective label version. Ingest inserts unlabelled rows: the insert trigger's
WHEN clause is false for them and queues nothing (AFTER triggers keep COPY's multi-insert).
"""

from django.conf import settings
from django.db import migrations

FORWARD = """
CREATE FUNCTION analytics_label_fact_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.label = '' THEN
        DELETE FROM analytics_labelfact WHERE transaction_id = NEW.id;
        RETURN NULL;
    END IF;
    INSERT INTO analytics_labelfact (
        transaction_id, case_id, account_id, occurred_at, day, labelled_at, labelled_by_id,
        label, model_version, score, outcome, decision, neighbour_share, country, amount,
        currency
    ) VALUES (
        NEW.id, NEW.case_id, NEW.account_id, NEW.occurred_at,
        (NEW.occurred_at AT TIME ZONE '%(zone)s')::date, NEW.labelled_at, NEW.labelled_by_id,
        NEW.label, NEW.model_version, NEW.similarity_score, NEW.outcome, NEW.decision,
        (SELECT v.neighbour_fraud_share FROM cases_labelversion v
          WHERE v.transaction_id = NEW.id AND v.status IN ('pending', 'exported')
          ORDER BY v.version DESC LIMIT 1),
        NEW.country, NEW.amount, NEW.currency
    )
    ON CONFLICT (transaction_id) DO UPDATE SET
        case_id = EXCLUDED.case_id, labelled_at = EXCLUDED.labelled_at,
        labelled_by_id = EXCLUDED.labelled_by_id, label = EXCLUDED.label,
        decision = EXCLUDED.decision, neighbour_share = EXCLUDED.neighbour_share;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_label_fact_insert AFTER INSERT ON cases_transaction
    FOR EACH ROW WHEN (NEW.label <> '') EXECUTE FUNCTION analytics_label_fact_sync();
CREATE TRIGGER analytics_label_fact_update
    AFTER UPDATE OF label, labelled_at, labelled_by_id, decision, case_id ON cases_transaction
    FOR EACH ROW WHEN (
        OLD.label IS DISTINCT FROM NEW.label OR OLD.labelled_at IS DISTINCT FROM NEW.labelled_at
        OR OLD.labelled_by_id IS DISTINCT FROM NEW.labelled_by_id
        OR OLD.decision IS DISTINCT FROM NEW.decision OR OLD.case_id IS DISTINCT FROM NEW.case_id
    ) EXECUTE FUNCTION analytics_label_fact_sync();
"""

REVERSE = """
DROP TRIGGER IF EXISTS analytics_label_fact_update ON cases_transaction;
DROP TRIGGER IF EXISTS analytics_label_fact_insert ON cases_transaction;
DROP FUNCTION IF EXISTS analytics_label_fact_sync();
"""


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_rollups_and_drift")]

    operations = [
        migrations.RunSQL(sql=FORWARD % {"zone": settings.TIME_ZONE}, reverse_sql=REVERSE)
    ]
