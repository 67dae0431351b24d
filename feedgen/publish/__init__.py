"""Publishing: putting feeds into storage, taking them out, purging the CDN.

    storage/  the backends (local folder, S3 and compatible stores, memory): mechanism only
    uploads   uploading rendered feeds and pages in the background, robots.txt
    removals  the queue of objects to delete and purge, retried with backoff
    cdn       CloudFront invalidations
    pages     the subscribe page and links of a feed URL

Imports the base modules and ``state`` (the deletion queue); nothing of crm, render or build.
"""
