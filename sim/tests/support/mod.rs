pub mod apf_server;
pub mod redir_client;
