"""AWS fixtures the tests share: a CloudFront distribution in front of a bucket (moto)."""

from __future__ import annotations

import os
from typing import Any


def create_distribution(cloudfront: Any, bucket: str) -> str:
    """A distribution whose origin is ``bucket``; its id."""
    origin = {
        "Id": "feeds",
        "DomainName": f"{bucket}.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": os.urandom(8).hex(),
            "Comment": "feedgen test",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [origin]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "feeds",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
            },
        }
    )
    return str(created["Distribution"]["Id"])
