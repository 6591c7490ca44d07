from tests.identity.api_support import rechecks as rechecks
