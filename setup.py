"""msisdn-gateway: a self-hosted phone-number verification gateway."""
from setuptools import find_packages, setup

setup(
    name="msisdn-gateway",
    version="0.1.0",
    description="Self-hosted MSISDN verification gateway (SMS over USB GSM/LTE modems)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MPL-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["gateway", "gateway.*", "modem", "modem.*"]),
    include_package_data=True,
    package_data={
        "gateway": [
            "storage/migrations/*.ini",
            "storage/migrations/*.py",
            "storage/migrations/versions/*.py",
            "storage/migrations/*.mako",
            "api/service/static/*",
            "api/admin/templates/admin/*.html",
            "api/admin/static/*",
            "i18n/locale/*/LC_MESSAGES/*.po",
            "i18n/locale/*/LC_MESSAGES/*.mo",
            "i18n/*.pot",
        ],
    },
    install_requires=[
        "flask>=3.0,<4",
        "mohawk>=1.1,<2",
        "cryptography>=42,<51",
        "sqlalchemy>=2.0,<2.2",
        "alembic>=1.13,<2",
        "apscheduler>=3.10,<4",
        "pyserial>=3.5,<4",
        # Pinned: we rely on its PDU codec's exact behaviour (see design.md).
        "python-gsmmodem-new==0.13.0",
        "phonenumbers>=8.13,<10",
        "babel>=2.14,<3",
        "click>=8.1,<9",
        # The API's arbiter; its worker (gateway/process/edge_worker.py) is ours, on
        # gunicorn's Worker base class: pinned to the versions measured.
        "gunicorn>=27.0.1,<28",
        # The API worker's event loop and HTTP parser (llhttp): wheels for x86-64 and
        # arm64 on PyPI, for 32-bit Raspberry Pi OS on piwheels (hardware.md).
        "uvloop>=0.21,<0.24",
        "httptools>=0.6.4,<0.10",
        "prometheus-client>=0.20,<1",
        # The OAuth 2.0 / OpenID Connect server of the CAMARA face (gateway/api/camara):
        # pinned to the version whose Flask integration and joserfc keys it was built on.
        "authlib==1.9.10",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-xdist>=3.5,<4",  # make test and make test-fast run on every core
            "requests>=2.31,<3",
            "requests-hawk>=1.2,<2",
            # The admin page's browser test drives Debian's chromium through chromedriver
            # (tests/e2e/test_admin_browser.py); 4.52 needs a newer certifi than we can get.
            "selenium>=4.25,<4.52",
            "psycopg[binary]>=3.1,<4",
            # The CAMARA face's tests: its OpenAPI document checked against responses.
            "openapi-schema-validator>=0.6,<1",
        ],
        # PostgreSQL instead of SQLite: database_url = "postgresql+psycopg://..."
        "postgresql": ["psycopg[binary]>=3.1,<4"],
    },
    entry_points={
        "console_scripts": ["msisdn-gateway = gateway.cli.server_commands:main"],
    },
)
