import datetime
import uuid
from typing import Optional

from pydantic import BaseModel

from models.location import Location


class ReportSubmittal(BaseModel):
    description: str
    location: Location


class Report(ReportSubmittal):
    id: str
    created_date: Optional[datetime.datetime]


def new_report(description: str, location: Location) -> Report:
    return Report(id=str(uuid.uuid4()), description=description, location=location,
                  created_date=datetime.datetime.now())
