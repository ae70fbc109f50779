"""{% case_ip_map case %}: the case page's IP map, read by its own selector."""

from django import template

from cases.selectors_ip import case_ip_map as read_case_ip_map

register = template.Library()


@register.inclusion_tag("cases/case/_ip_map.html")
def case_ip_map(case):
    return {"case": case, "ip_map": read_case_ip_map(case)}
