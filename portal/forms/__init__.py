"""Forms of the patient portal's pages. They check types and shapes only; the rules are the services'."""
