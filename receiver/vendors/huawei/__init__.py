"""huawei: what callrecon knows about this vendor on the receiving side."""
