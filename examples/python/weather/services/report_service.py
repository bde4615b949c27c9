from typing import List

from models.location import Location
from models.reports import Report, new_report

__reports: List[Report] = []


async def get_reports() -> List[Report]:
    return list(__reports)


async def add_report(description: str, location: Location) -> Report:
    report = new_report(description, location)
    __reports.append(report)
    __reports.sort(key=lambda r: r.created_date, reverse=True)
    return report
