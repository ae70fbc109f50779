"""Exchange rates: what one unit of a currency was worth in another, from a date on."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ExchangeRate(models.Model):
    """1 `currency` = `rate` `quote_currency`, from `valid_from` until a later rate of the pair.

    Loaded from a file (`manage.py load_exchange_rates`, docs/exchange-rates.md) or the admin.
    Amounts convert to FRAUDCASE_REPORTING_CURRENCY with the newest rate on or before the
    transaction's day (cases.currency.rates); none there means no conversion, never a guess.
    """

    currency = models.CharField(max_length=3)
    quote_currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    valid_from = models.DateField()
    source = models.CharField(max_length=255, blank=True, help_text="file or who entered it")
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["currency", "quote_currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "quote_currency", "valid_from"], name="exchange_rate_unique"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
            models.CheckConstraint(
                condition=~Q(currency=models.F("quote_currency")),
                name="exchange_rate_two_currencies",
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} {self.quote_currency} from {self.valid_from}"
