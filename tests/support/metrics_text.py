"""Reading the service's Prometheus exposition in tests, with the library's own parser."""

from prometheus_client.parser import text_string_to_metric_families

ES_REQUESTS = "connector_service_elasticsearch_requests_total"
HTTP_REQUESTS = "connector_service_http_requests_total"


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called `name`: its labels and value."""
    return [(sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name]


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(value for found, value in samples(text, name)
               if all(found.get(key) == wanted for key, wanted in labels.items()))
