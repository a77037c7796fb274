"""GET /uac_connections: filters, sort and pagination from the query string."""

from .errors import bad_request

SORT_FIELDS = ("created_at", "connection_name", "active")
DEFAULT_SORT = "-created_at"
MAX_PAGE_SIZE = 250
MIN_CONTAINS = 3


def _sort_key(field):
    if field == "connection_name":
        return lambda item: (item[1]["connection_name"].casefold(), item[0])
    return lambda item: (item[1][field], item[0])


def _positive_int(args, name, pointer, maximum=None):
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer", pointer) from None
    if value < 1 or (maximum is not None and value > maximum):
        limits = f"between 1 and {maximum}" if maximum else "at least 1"
        raise bad_request(f"{name} must be {limits}", pointer)
    return value


def _filters(args):
    """Predicates for the filter[...] parameters given."""
    predicates = []
    contains = args.get("filter[connection_name][contains]")
    if contains is not None:
        if len(contains) < MIN_CONTAINS:
            raise bad_request(
                f"filter[connection_name][contains] requires at least {MIN_CONTAINS} characters",
                "/filter/connection_name/contains")
        needle = contains.casefold()
        predicates.append(lambda record: needle in record["connection_name"].casefold())
    fqdn = args.get("filter[fqdn]")
    if fqdn is not None:
        predicates.append(lambda record: record["fqdn"] == fqdn)
    for name in ("filter[outbound_voice_profile_id]", "filter[outbound.outbound_voice_profile_id]"):
        profile = args.get(name)
        if profile is not None:
            predicates.append(
                lambda record, p=profile: record["outbound"].get("outbound_voice_profile_id") == p)
    return predicates


def list_page(records, args):
    """(page of records, meta) for records in creation order and the request's query args."""
    sort = args.get("sort") or DEFAULT_SORT
    field = sort[1:] if sort.startswith("-") else sort
    if field not in SORT_FIELDS:
        raise bad_request(f"sort must be one of {', '.join(SORT_FIELDS)}, optionally prefixed with -",
                          "/sort")
    number = _positive_int(args, "page[number]", "/page/number") or 1
    size = _positive_int(args, "page[size]", "/page/size", MAX_PAGE_SIZE) or MAX_PAGE_SIZE
    predicates = _filters(args)
    matching = [(index, record) for index, record in enumerate(records)
                if all(predicate(record) for predicate in predicates)]
    matching.sort(key=_sort_key(field), reverse=sort.startswith("-"))
    total = len(matching)
    start = (number - 1) * size
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": (total + size - 1) // size,
        "total_results": total,
    }
    return [pair[1] for pair in matching[start:start + size]], meta
