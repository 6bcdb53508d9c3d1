"""The result-file format, pure Python with no Django: codecs, serializers, records, layouts, the store.

``codecs`` holds the one bounded base64 and decompression, ``layout`` the one layout detector and
head reader; everything else that reads a result file (indexing, previews, the inspect command)
asks these modules.
"""
